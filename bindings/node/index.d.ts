// Type definitions for hamqtt (Node.js): MQTT.js's client API over a virtual cluster of
// independent brokers, and the native HA API (HaClusters, HaMqttClient).
/// <reference types="node" />
import { EventEmitter } from 'events'

export type QoS = 0 | 1 | 2

/** A publisher policy of the engine. */
export type PublisherType = 'STICKY' | 'ROUND_ROBIN' | 'RANDOM' | 'ALL' | 0 | 1 | 2 | 3

/** hamqtt's own options (MQTT.js has none of these); durations in milliseconds. */
export interface HaOptions {
  /** cluster name; endpoints are named <name>-1, <name>-2, ... (default "cluster-default") */
  name?: string
  publisherType?: PublisherType
  /** preferred endpoint (URI or name) of the STICKY policy */
  primaryServerURI?: string
  /** topics "<base><endpoint name>..." go to that endpoint */
  defaultTopicBase?: string
  /** bound of connect/publish/subscribe (10000) */
  timeToWait?: number
  /** per-endpoint ack wait before failover (3000) */
  ackTimeout?: number
  /** backoff after a broker's first refusal (1000; MqttClient: reconnectPeriod); a broker that is down is re-checked every 105-245 ms regardless */
  probeDelay?: number
  /** refusal backoff cap (30000) */
  maxProbeDelay?: number
  /** connects/s over the cluster (4; < 0: unlimited) */
  connectRate?: number
  connectBurst?: number
  /** revived endpoint kept from publishing (2000; -1: off) */
  warmUp?: number
  /** drops within flapWindow before quarantine (5; -1: off) */
  flapLimit?: number
  flapWindow?: number
  quarantine?: number
  /** cap on live connections (-1: all) */
  liveEndpointCount?: number
  /** cap on the first probe (-1: none) */
  initialEndpointCount?: number
  /** endpoints carrying the subscriptions (-1: all) */
  subscriberCount?: number
  /** refuse subscriptions */
  publishOnly?: boolean
  /** failover service level 0..3 (padogrid FoS) */
  fos?: 0 | 1 | 2 | 3
  /**
   * publisherType ALL: how many brokers must acknowledge a publish before it counts as
   * acknowledged: 0 or 1 any one (default), k > 1 k of the live brokers (every live one while
   * fewer are live), -1 every live broker
   */
  ackQuorum?: number
  /** drop the copies of a message that arrive through several endpoints */
  dedup?: boolean
  dedupWindow?: number
  /**
   * share each broker connection with the other sharing clusters of the process that reach it
   * with the same settings (padogrid's liveEndpointPoolEnabled); each still receives only its
   * own subscriptions' messages. TLS clusters never share.
   */
  shareConnections?: boolean
  /** persistent store of in-flight messages (memory when unset) */
  fileStoreDir?: string
  keepAlive?: number
  connectTimeout?: number
  clientId?: string
  username?: string
  password?: string
  persistentSession?: boolean
  tlsCaFile?: string
  tlsCertFile?: string
  tlsKeyFile?: string
  /** no certificate verification at all (chain and host name); a process warning says so */
  tlsInsecure?: boolean
  /** the broker's certificate chain is verified, not that it names the host; a process warning says so */
  tlsSkipHostnameCheck?: boolean
}

export interface ServerAddress {
  host: string
  port?: number
  protocol?: 'mqtt' | 'mqtts' | 'tcp' | 'ssl' | 'tls' | 'ws' | 'wss'
}

/** MQTT.js's IClientOptions, as far as a virtual cluster can honour them. Unsupported
 * options (MQTT 5 properties, custom stores, ...) throw an error naming them. */
export interface IClientOptions {
  clientId?: string
  username?: string
  password?: string | Buffer
  /** seconds (60); 0 is not supported */
  keepalive?: number
  clean?: boolean
  /** ms between reconnect attempts (1000); 0: no reconnection */
  reconnectPeriod?: number
  /** ms (30000) */
  connectTimeout?: number
  will?: { topic: string, payload: string | Buffer, qos?: QoS, retain?: boolean }
  protocol?: 'mqtt' | 'mqtts' | 'tcp' | 'ssl' | 'tls' | 'ws' | 'wss'
  /** a host, or a host list "a:1883,b:1884" */
  host?: string
  hostname?: string
  port?: number
  /** WebSocket path */
  path?: string
  /** brokers of the virtual cluster (MQTT.js's failover list) */
  servers?: ServerAddress[]
  protocolId?: 'MQTT'
  protocolVersion?: 4
  /** PEM text */
  ca?: string | Buffer | Array<string | Buffer>
  cert?: string | Buffer | Array<string | Buffer>
  key?: string | Buffer | Array<string | Buffer>
  rejectUnauthorized?: boolean
  queueQoSZero?: boolean
  manualConnect?: boolean
  resubscribe?: true
  reschedulePings?: true
  /** a cluster of the configuration file (HaClusters.initialize, option config, or HAMQTT_CONFIG) */
  cluster?: string
  /** the configuration (a file path or YAML text) for option cluster */
  config?: string
  /** hamqtt's own options */
  ha?: HaOptions
}

export interface IClientPublishOptions {
  qos?: QoS
  retain?: boolean
  /** only false: the engine sets DUP itself */
  dup?: false
  cbStorePut?: () => void
}

export interface IClientSubscribeOptions {
  qos?: QoS
}

export interface ISubscriptionGrant {
  topic: string
  qos: number
}

export interface ISubscriptionMap {
  [topic: string]: { qos: QoS }
}

export interface IConnackPacket {
  cmd: 'connack'
  returnCode: number
  sessionPresent: boolean
}

export interface IPublishPacket {
  cmd: 'publish'
  topic: string
  payload: Buffer
  qos: QoS
  retain: boolean
  dup: boolean
  length: number
  /** hamqtt: the endpoint the message arrived through */
  endpoint?: string
  messageId?: number
}

export type PacketCallback = (error?: Error, packet?: IPublishPacket) => void
export type ClientSubscribeCallback = (err: Error | null, granted?: ISubscriptionGrant[]) => void
export type DoneCallback = (error?: Error) => void
export type OnMessageCallback = (topic: string, payload: Buffer, packet: IPublishPacket) => void

/** An error of the library: .code is the HAMQTT_ERR_* name, .status its number. */
export interface HamqttError extends Error {
  code: string
  status: number
}

export interface EndpointStats {
  name: string
  uri: string
  state: 'dead' | 'connecting' | 'live' | 'quarantined' | 'removed'
  subscriber: boolean
  liveSince: Date | null
  published: number
  acked: number
  failed: number
  failovers: number
  connects: number
  connectFailures: number
  received: number
  lastError: string
}

export declare class MqttClient extends EventEmitter {
  constructor (brokerUrl?: string | IClientOptions, opts?: IClientOptions)
  /** at least one endpoint of the cluster is live */
  connected: boolean
  reconnecting: boolean
  disconnecting: boolean
  disconnected: boolean
  options: IClientOptions & { endpoints: string | null, cluster: string | null }

  on (event: 'connect', cb: (packet: IConnackPacket) => void): this
  on (event: 'message', cb: OnMessageCallback): this
  on (event: 'reconnect' | 'close' | 'offline' | 'end', cb: () => void): this
  on (event: 'error', cb: (error: HamqttError | Error) => void): this
  on (event: 'endpointUp', cb: (name: string) => void): this
  on (event: 'endpointDown', cb: (name: string, reason: string | null) => void): this
  on (event: string | symbol, cb: (...args: any[]) => void): this
  once (event: 'connect', cb: (packet: IConnackPacket) => void): this
  once (event: 'message', cb: OnMessageCallback): this
  once (event: string | symbol, cb: (...args: any[]) => void): this

  /** starts connecting (with manualConnect) */
  connect (): this
  publish (topic: string, message: string | Buffer | Uint8Array, opts?: IClientPublishOptions, callback?: PacketCallback): this
  publish (topic: string, message: string | Buffer | Uint8Array, callback?: PacketCallback): this
  publishAsync (topic: string, message: string | Buffer | Uint8Array, opts?: IClientPublishOptions): Promise<IPublishPacket | undefined>
  subscribe (topic: string | string[] | ISubscriptionMap, opts?: IClientSubscribeOptions, callback?: ClientSubscribeCallback): this
  subscribe (topic: string | string[] | ISubscriptionMap, callback?: ClientSubscribeCallback): this
  subscribeAsync (topic: string | string[] | ISubscriptionMap, opts?: IClientSubscribeOptions): Promise<ISubscriptionGrant[]>
  unsubscribe (topic: string | string[], opts?: object, callback?: DoneCallback): this
  unsubscribe (topic: string | string[], callback?: DoneCallback): this
  unsubscribeAsync (topic: string | string[], opts?: object): Promise<void>
  end (force?: boolean, opts?: object, cb?: DoneCallback): this
  end (force?: boolean, cb?: DoneCallback): this
  end (cb?: DoneCallback): this
  endAsync (force?: boolean, opts?: object): Promise<void>
  reconnect (): this
  /** not supported: throws */
  getLastMessageId (): never
  /** not supported: throws */
  removeOutgoingMessage (messageId: number): never

  /** hamqtt: names of the live endpoints, longest-live first */
  liveEndpoints (): string[]
  /** hamqtt: names of the endpoints that are not live */
  deadEndpoints (): string[]
  /** hamqtt: per-endpoint statistics */
  stats (): EndpointStats[]
  /** hamqtt: let the process exit while this client is open */
  unref (): this
  ref (): this
}

export declare function connect (brokerUrl: string, opts?: IClientOptions): MqttClient
export declare function connect (opts: IClientOptions): MqttClient
export declare function connectAsync (brokerUrl: string, opts?: IClientOptions, allowRetries?: boolean): Promise<MqttClient>
export declare function connectAsync (opts: IClientOptions): Promise<MqttClient>
export { MqttClient as Client }

export interface HaMessage {
  topic: string
  payload: Buffer
  qos: QoS
  retain: boolean
  dup: boolean
  endpoint: string
}

/** A client of one virtual cluster (the native HA API). */
export declare class HaMqttClient extends EventEmitter {
  /** @param endpoints broker URIs with lists and ranges: "tcp://10.0.0.5-7:1883-1885,ssl://b:8883" */
  constructor (endpoints: string, options?: HaOptions)
  readonly name: string
  readonly closed: boolean
  on (event: 'message', cb: (topic: string, payload: Buffer, message: HaMessage) => void): this
  on (event: 'endpointUp', cb: (name: string) => void): this
  on (event: 'endpointDown', cb: (name: string, reason: string | null) => void): this
  on (event: 'error', cb: (error: HamqttError) => void): this
  on (event: string | symbol, cb: (...args: any[]) => void): this
  connect (): Promise<void>
  disconnect (): Promise<void>
  close (): Promise<void>
  publish (topic: string, payload: string | Buffer | Uint8Array, options?: { qos?: QoS, retain?: boolean }): Promise<{ endpoints: string[] }>
  publishTo (endpoint: string, topic: string, payload: string | Buffer | Uint8Array, options?: { qos?: QoS, retain?: boolean }): Promise<void>
  subscribe (filter: string, options?: { qos?: QoS }): Promise<void>
  unsubscribe (filter: string): Promise<void>
  liveEndpoints (): string[]
  deadEndpoints (): string[]
  stats (): EndpointStats[]
  addEndpoint (uri: string, name?: string): string[]
  removeEndpoint (name: string): Promise<void>
  unref (): this
  ref (): this
}

/** The clusters of a configuration file (padogrid's HaClusters). */
export declare const HaClusters: {
  initialize (source: string | { path: string } | { yaml: string | Buffer }): void
  initializeYaml (text: string | Buffer): void
  isInitialized (): boolean
  clusterNames (): string[]
  getHaMqttClient (name?: string): HaMqttClient
  getHaClusterClient (name?: string): HaMqttClient
  connect (name?: string): Promise<void>
  createClient (endpoints: string, options?: HaOptions): HaMqttClient
  shutdown (): Promise<void>
  stop (): Promise<void>
}

/** libhamqtt's version */
export declare const libraryVersion: string
/** HAMQTT_ERR_* status codes by name */
export declare const status: Readonly<Record<string, number>>

declare const _default: {
  connect: typeof connect
  connectAsync: typeof connectAsync
  MqttClient: typeof MqttClient
  Client: typeof MqttClient
  HaClusters: typeof HaClusters
  HaMqttClient: typeof HaMqttClient
  libraryVersion: string
  status: Readonly<Record<string, number>>
}
export default _default
