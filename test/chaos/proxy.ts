// A TCP proxy in front of Redis that can lose one reply: armed with a
// marker, it forwards the next client chunk containing the marker to Redis,
// lets Redis run it, drops Redis's reply and closes the client connection.
// That is a connection lost after the server ran a command and before its
// reply arrived: the moment a client library may resend the command.
import net from 'node:net';

export class ReplyCutProxy {
  private server?: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private marker: string | undefined;
  /** Commands whose reply was dropped. */
  cuts = 0;
  port = 0;

  constructor(private readonly target: { host: string; port: number }) {}

  async start(): Promise<this> {
    this.server = net.createServer((client) => {
      const upstream = net.connect(this.target);
      this.sockets.add(client).add(upstream);
      let cut = false;
      client.on('data', (d: Buffer) => {
        upstream.write(d);
        if (this.marker && d.includes(this.marker)) {
          this.marker = undefined;
          cut = true;
          this.cuts++;
          // Give Redis time to run the command, then drop both ends without relaying the reply.
          setTimeout(() => {
            client.destroy();
            upstream.destroy();
          }, 100);
        }
      });
      upstream.on('data', (d: Buffer) => {
        if (!cut) client.write(d);
      });
      const close = () => {
        client.destroy();
        upstream.destroy();
        this.sockets.delete(client);
        this.sockets.delete(upstream);
      };
      client.on('error', close).on('close', close);
      upstream.on('error', close).on('close', close);
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.port = (this.server!.address() as net.AddressInfo).port;
    return this;
  }

  /** Lose the reply to the next command containing `marker`. */
  cutNext(marker: string): void {
    this.marker = marker;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
