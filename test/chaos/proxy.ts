// A TCP proxy in front of Redis that can lose one reply: armed with a
// marker, it forwards the next client chunk containing the marker to Redis,
// lets Redis run it, drops Redis's reply and closes the client connection.
// That is a connection lost after the server ran a command and before its
// reply arrived: the moment a client library may resend the command.
import net from 'node:net';

/** Either end closing or failing closes both; returns the close. */
function joined(client: net.Socket, upstream: net.Socket, forget: () => void): () => void {
  const close = () => {
    client.destroy();
    upstream.destroy();
    forget();
  };
  client.on('error', close).on('close', close);
  upstream.on('error', close).on('close', close);
  return close;
}

/** Listen on a free loopback port; resolves with it. */
async function listenOnLoopback(server: net.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as net.AddressInfo).port;
}

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
      joined(client, upstream, () => {
        this.sockets.delete(client);
        this.sockets.delete(upstream);
      });
    });
    this.port = await listenOnLoopback(this.server);
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

/**
 * A TCP proxy that can cut the link it carries: `cut()` drops every
 * connection through it and refuses new ones until `restore()`. The
 * failover runs put it between a replica and its master, so the run can cut
 * replication (on loopback a replica otherwise holds nearly every write
 * the moment its master dies, and the loss a failover can cause never shows).
 */
export class LinkProxy {
  private server?: net.Server;
  private readonly links = new Map<net.Socket, { upstream: net.Socket; replication: boolean }>();
  private cutWhat: 'none' | 'all' | 'replication' = 'none';
  port = 0;

  constructor(private readonly target: { host: string; port: number }) {}

  async start(): Promise<this> {
    this.server = net.createServer((client) => {
      if (this.cutWhat === 'all') {
        client.destroy();
        return;
      }
      const upstream = net.connect(this.target);
      const link = { upstream, replication: false };
      this.links.set(client, link);
      client.on('data', (d: Buffer) => {
        // A replica's connection says who it is (REPLCONF, then PSYNC) before the stream starts.
        if (!link.replication && (d.includes('REPLCONF') || d.includes('PSYNC'))) link.replication = true;
        if (link.replication && this.cutWhat === 'replication') close();
        else upstream.write(d);
      });
      upstream.on('data', (d: Buffer) => client.write(d));
      const close = joined(client, upstream, () => this.links.delete(client));
    });
    this.port = await listenOnLoopback(this.server);
    return this;
  }

  /**
   * Cut: every connection (`all`), or only replication links, which are told
   * apart by the REPLCONF/PSYNC a replica sends first; new ones are refused
   * until `restore()`.
   */
  cut(what: 'all' | 'replication' = 'all'): void {
    this.cutWhat = what;
    for (const [client, link] of this.links) {
      if (what === 'all' || link.replication) {
        client.destroy();
        link.upstream.destroy();
        this.links.delete(client);
      }
    }
  }

  restore(): void {
    this.cutWhat = 'none';
  }

  async stop(): Promise<void> {
    this.cut('all');
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
