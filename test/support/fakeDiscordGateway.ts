/**
 * A local stand-in for Discord's Gateway (a WebSocket server on 127.0.0.1), speaking the protocol as discord.js 14
 * (@discordjs/ws 1.2) uses it, for Muster's gateway tests. Start it with the FakeDiscord whose `GET /gateway/bot`
 * should point at it:
 *
 *   const gateway = await FakeDiscordGateway.start({ fake, token: 'discord-test-token' });   // sets fake.gatewayUrl
 *   gateway.dispatch('MESSAGE_REACTION_ADD', { ... });
 *
 * What it implements (https://discord.com/developers/docs/events/gateway, "Connections"):
 * - Connecting: the query string `v=10&encoding=json` (https://discord.com/developers/docs/events/gateway#connecting).
 *   Without zlib-sync installed, discord.js asks for no transport compression and identifies with `compress: false`;
 *   the stand-in sends plain JSON text frames and implements no compression: a `compress` query parameter, another
 *   encoding or `compress: true` is refused (close 4002) and recorded in `errors`, so a test notices rather than
 *   hangs. Another API version: 4012 (https://discord.com/developers/docs/topics/opcodes-and-status-codes#gateway-gateway-close-event-codes).
 * - Hello (op 10, `heartbeat_interval`) on connect (https://discord.com/developers/docs/events/gateway#hello-event);
 *   heartbeats (op 1, `d` the last sequence or null) answered with Heartbeat ACK (op 11); `requestHeartbeat()` sends
 *   op 1, which the client must answer at once (https://discord.com/developers/docs/events/gateway#sending-heartbeats).
 * - Identify (op 2, https://discord.com/developers/docs/events/gateway#identifying): the token must be the bot's (4004
 *   Authentication failed otherwise), `intents` an integer of known bits (4013), privileged intents only as enabled
 *   (`privilegedIntents`, none by default: 4014), `shard` [0, 1] if sent (4010), `properties` os/browser/device (4001);
 *   a second Identify is 4005 and anything but heartbeats before it 4003.
 * - Ready (op 0, t READY, https://discord.com/developers/docs/events/gateway-events#ready): `v`, the bot `user`,
 *   `guilds` [{ id, unavailable: true }], `session_id`, `resume_gateway_url` (this server), `shard`, `application`
 *   { id, flags }; then GUILD_CREATE with FakeDiscord's guild (https://discord.com/developers/docs/events/gateway#guild-availability).
 * - Dispatches with increasing `s` per session (`dispatch(t, d)`), kept so that a Resume (op 6) on a new connection
 *   replays what the client missed, then RESUMED (https://discord.com/developers/docs/events/gateway#resuming); an
 *   unknown session gets Invalid Session (op 9, d false). `drop()` cuts the connections without a close frame, as a
 *   network failure would.
 * Not implemented: ETF, zlib/zstd, payload compression, sharding beyond one shard, rate limits on sent events (120 per
 * 60 s), the identify limit (1000 a day), zombie detection (no heartbeat in time), Reconnect (op 7) and presence.
 */
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { GatewayIntentBits, GatewayOpcodes } from 'discord-api-types/v10';
import { APPLICATION_ID, BOT_USER_ID, GUILD_ID, type FakeDiscord } from './fakeDiscord.ts';

/** Discord's usual heartbeat interval (the Hello example gives 45000; live gateways send 41250). */
export const DEFAULT_HEARTBEAT_INTERVAL_MS = 41_250;

/** every intent bit Discord defines (https://discord.com/developers/docs/events/gateway#list-of-intents) */
const KNOWN_INTENTS = Object.values(GatewayIntentBits)
  .filter((v): v is number => typeof v === 'number')
  .reduce((a, b) => a | b, 0);
/** GUILD_MEMBERS, GUILD_PRESENCES, MESSAGE_CONTENT (https://discord.com/developers/docs/events/gateway#privileged-intents) */
export const PRIVILEGED_INTENTS = GatewayIntentBits.GuildMembers | GatewayIntentBits.GuildPresences | GatewayIntentBits.MessageContent;

export interface FakeGatewayOptions {
  /** the REST fake: its `gatewayUrl` is set to this server, and its guild is what GUILD_CREATE carries */
  fake: FakeDiscord;
  /** the bot token Identify must carry */
  token: string;
  /** Hello's heartbeat_interval. Default 41250 ms */
  heartbeatIntervalMs?: number;
  /** privileged intents "enabled in the Developer Portal" (a bit mask). Default none */
  privilegedIntents?: number;
}

/** What the client sent in Identify, without the token. */
export interface IdentifyRecord {
  intents: number;
  properties: Record<string, unknown>;
  compress?: boolean;
  shard?: [number, number];
  large_threshold?: number;
  presence?: unknown;
}

export interface GatewayConnection {
  /** 1, 2, … in connection order */
  n: number;
  /** the query string the client connected with */
  query: Record<string, string>;
  /** the session this connection identified or resumed */
  sessionId?: string;
  how?: 'identify' | 'resume';
  /** the `d` of every heartbeat received (the last sequence the client saw, or null) */
  heartbeats: (number | null)[];
  /** op codes received, in order */
  received: number[];
  /** set once the socket is closed: the code and who closed it */
  closed?: { code: number; reason: string; by: 'client' | 'server' | 'dropped' };
}

interface Session {
  id: string;
  seq: number;
  identify: IdentifyRecord;
  /** every dispatch of the session, for replay on resume */
  log: { s: number; t: string; d: unknown }[];
  socket?: WebSocket;
  conn?: GatewayConnection;
}

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class FakeDiscordGateway {
  readonly url: string;
  readonly connections: GatewayConnection[] = [];
  readonly identifies: IdentifyRecord[] = [];
  /** protocol violations by the client, and requests for what the stand-in does not implement: tests expect [] */
  readonly errors: string[] = [];
  private readonly sessions = new Map<string, Session>();
  private readonly sockets = new Map<WebSocket, GatewayConnection>();
  private readonly heartbeatIntervalMs: number;
  private readonly privileged: number;

  private constructor(
    private readonly wss: WebSocketServer,
    private readonly o: FakeGatewayOptions,
  ) {
    this.url = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`;
    this.heartbeatIntervalMs = o.heartbeatIntervalMs ?? DEFAULT_HEARTBEAT_INTERVAL_MS;
    this.privileged = o.privilegedIntents ?? 0;
    o.fake.gatewayUrl = this.url;
    wss.on('connection', (ws, req) => this.accept(ws, new URL(req.url ?? '/', this.url)));
  }

  static async start(o: FakeGatewayOptions): Promise<FakeDiscordGateway> {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise<void>((resolve, reject) => {
      wss.once('listening', resolve);
      wss.once('error', reject);
    });
    return new FakeDiscordGateway(wss, o);
  }

  /** Sessions that have a live, identified or resumed connection. */
  get live(): number {
    return [...this.sessions.values()].filter((s) => s.socket?.readyState === WebSocket.OPEN).length;
  }

  /**
   * Sends a Dispatch (op 0) to every session: live ones get it now, disconnected ones on Resume. Returns how many
   * sessions were live.
   */
  dispatch(t: string, d: unknown): number {
    let sent = 0;
    for (const s of this.sessions.values()) {
      s.seq += 1;
      s.log.push({ s: s.seq, t, d });
      if (s.socket?.readyState === WebSocket.OPEN) {
        s.socket.send(JSON.stringify({ op: GatewayOpcodes.Dispatch, t, s: s.seq, d }));
        sent++;
      }
    }
    return sent;
  }

  /** Heartbeat (op 1) from the gateway: "your app should immediately send back another Heartbeat event". */
  requestHeartbeat(): void {
    for (const s of this.sessions.values()) if (s.socket?.readyState === WebSocket.OPEN) s.socket.send(JSON.stringify({ op: GatewayOpcodes.Heartbeat, d: null }));
  }

  /** Cuts every connection without a close frame (the client sees 1006 and resumes). */
  drop(): void {
    for (const [ws, conn] of this.sockets) {
      conn.closed ??= { code: 1006, reason: 'dropped', by: 'dropped' };
      ws.terminate();
    }
  }

  /** Polls until `predicate(this)` is truthy or `timeoutMs` passes. */
  async waitFor<T>(predicate: (g: FakeDiscordGateway) => T | undefined | null | false, timeoutMs = 5000, what = 'the gateway condition'): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = predicate(this);
      if (v) return v;
      if (Date.now() >= deadline)
        throw new Error(`FakeDiscordGateway: timed out after ${timeoutMs} ms waiting for ${what}; connections: ${JSON.stringify(this.connections)}; errors: ${JSON.stringify(this.errors)}`);
      await delay(5);
    }
  }

  async close(): Promise<void> {
    for (const ws of this.sockets.keys()) ws.terminate();
    if (this.o.fake.gatewayUrl === this.url) this.o.fake.gatewayUrl = undefined;
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }

  // ---------------------------------------------------------------------------

  private accept(ws: WebSocket, url: URL): void {
    const conn: GatewayConnection = { n: this.connections.length + 1, query: Object.fromEntries(url.searchParams), heartbeats: [], received: [] };
    this.connections.push(conn);
    this.sockets.set(ws, conn);
    let session: Session | undefined;
    const close = (code: number, reason: string, error?: string) => {
      if (error) this.errors.push(`connection ${conn.n}: ${error}`);
      conn.closed ??= { code, reason, by: 'server' };
      ws.close(code, reason);
    };
    ws.on('close', (code, reason) => {
      conn.closed ??= { code, reason: reason.toString(), by: 'client' };
      this.sockets.delete(ws);
      if (session?.socket === ws) session.socket = undefined;
      // "closing with 1000 or 1001 ... will invalidate your session" (https://discord.com/developers/docs/events/gateway#initiating-a-disconnect)
      if (session && conn.closed.by === 'client' && (code === 1000 || code === 1001)) this.sessions.delete(session.id);
    });
    ws.on('error', () => undefined);

    // https://discord.com/developers/docs/events/gateway#connecting-gateway-url-query-string-params
    if (conn.query.v !== '10') return close(4012, 'Invalid API version', `API version ${conn.query.v ?? '(none)'} (the stand-in speaks v10)`);
    if (conn.query.encoding !== 'json') return close(4002, 'Decode error', `encoding ${conn.query.encoding ?? '(none)'}: the stand-in implements JSON only`);
    if (conn.query.compress !== undefined) return close(4002, 'Decode error', `compress=${conn.query.compress}: the stand-in implements no transport compression`);

    ws.send(JSON.stringify({ op: GatewayOpcodes.Hello, d: { heartbeat_interval: this.heartbeatIntervalMs } }));

    ws.on('message', (data: RawData, isBinary: boolean) => {
      if (isBinary) return close(4002, 'Decode error', 'a binary frame (JSON encoding sends text)');
      let p: { op?: unknown; d?: unknown };
      try {
        p = JSON.parse(data.toString()) as { op?: unknown; d?: unknown };
      } catch {
        return close(4002, 'Decode error', 'a frame that is not JSON');
      }
      // "Must not exceed 4096 bytes" (https://discord.com/developers/docs/events/gateway#sending-events)
      if (Buffer.byteLength(data.toString()) > 4096) return close(4002, 'Decode error', 'a payload over 4096 bytes');
      const op = typeof p.op === 'number' ? p.op : -1;
      conn.received.push(op);
      const d = (p.d ?? null) as Record<string, unknown> | number | null;
      switch (op) {
        case GatewayOpcodes.Heartbeat:
          conn.heartbeats.push(typeof d === 'number' ? d : null);
          ws.send(JSON.stringify({ op: GatewayOpcodes.HeartbeatAck }));
          return;
        case GatewayOpcodes.Identify: {
          if (session) return close(4005, 'Already authenticated', 'a second Identify');
          const id = (d ?? {}) as Record<string, unknown>;
          if (id.token !== this.o.token) return close(4004, 'Authentication failed');
          const intents = id.intents;
          if (typeof intents !== 'number' || !Number.isInteger(intents) || intents < 0 || (intents & ~KNOWN_INTENTS) !== 0) return close(4013, 'Invalid intent(s)', `intents ${String(intents)}`);
          if ((intents & PRIVILEGED_INTENTS & ~this.privileged) !== 0) return close(4014, 'Disallowed intent(s)');
          const props = (id.properties ?? {}) as Record<string, unknown>;
          if (!['os', 'browser', 'device'].every((k) => typeof props[k] === 'string')) return close(4001, 'Unknown opcode', 'Identify without properties os/browser/device');
          if (id.shard !== undefined && JSON.stringify(id.shard) !== '[0,1]') return close(4010, 'Invalid shard', `shard ${JSON.stringify(id.shard)}`);
          if (id.compress === true) return close(4002, 'Decode error', 'Identify with compress: true (payload compression is not implemented)');
          const { token: _t, ...rest } = id;
          const record = rest as unknown as IdentifyRecord;
          this.identifies.push(record);
          session = { id: randomBytes(16).toString('hex'), seq: 0, identify: record, log: [], socket: ws, conn };
          this.sessions.set(session.id, session);
          conn.sessionId = session.id;
          conn.how = 'identify';
          this.send(session, 'READY', {
            v: 10,
            user: { id: BOT_USER_ID, username: 'muster', discriminator: '0', global_name: null, avatar: null, bot: true, verified: true, mfa_enabled: false, flags: 0, email: null },
            guilds: [{ id: GUILD_ID, unavailable: true }],
            session_id: session.id,
            session_type: 'normal',
            resume_gateway_url: this.url,
            shard: [0, 1],
            application: { id: APPLICATION_ID, flags: 0 },
            private_channels: [],
            presences: [],
            relationships: [],
            guild_join_requests: [],
            user_settings: {},
            geo_ordered_rtc_regions: [],
            auth_session_id_hash: '',
          });
          this.send(session, 'GUILD_CREATE', this.o.fake.guildCreate());
          return;
        }
        case GatewayOpcodes.Resume: {
          const r = (d ?? {}) as Record<string, unknown>;
          if (r.token !== this.o.token) return close(4004, 'Authentication failed');
          const s = this.sessions.get(String(r.session_id ?? ''));
          if (!s) {
            // "If the d field is set to false (which is most of the time), your app should disconnect" and identify anew
            ws.send(JSON.stringify({ op: GatewayOpcodes.InvalidSession, d: false }));
            return;
          }
          if (typeof r.seq !== 'number' || r.seq > s.seq) return close(4007, 'Invalid seq', `resume from seq ${String(r.seq)} (the session is at ${s.seq})`);
          if (s.socket && s.socket !== ws && s.socket.readyState === WebSocket.OPEN) s.socket.terminate();
          session = s;
          s.socket = ws;
          s.conn = conn;
          conn.sessionId = s.id;
          conn.how = 'resume';
          for (const e of s.log.filter((x) => x.s > (r.seq as number))) ws.send(JSON.stringify({ op: GatewayOpcodes.Dispatch, t: e.t, s: e.s, d: e.d }));
          this.send(s, 'RESUMED', null, false);
          return;
        }
        case GatewayOpcodes.PresenceUpdate:
        case GatewayOpcodes.RequestGuildMembers:
        case GatewayOpcodes.VoiceStateUpdate:
          if (!session) return close(4003, 'Not authenticated', `op ${op} before Identify`);
          return;
        default:
          return close(4001, 'Unknown opcode', `op ${String(p.op)}`);
      }
    });
  }

  private send(s: Session, t: string, d: unknown, replayable = true): void {
    s.seq += 1;
    if (replayable) s.log.push({ s: s.seq, t, d });
    if (s.socket?.readyState === WebSocket.OPEN) s.socket.send(JSON.stringify({ op: GatewayOpcodes.Dispatch, t, s: s.seq, d }));
  }
}
