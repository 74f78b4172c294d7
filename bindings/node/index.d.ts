// Type definitions for hamqtt (Node.js): MQTT.js's client API over a virtual cluster of
// independent brokers, and the native HA API (HaClusters, HaMqttClient).
/// <reference types="node" />
import { EventEmitter } from 'events'

export type QoS = 0 | 1 | 2

/** A publisher policy of the engine. */
export type PublisherType = 'STICKY' | 'ROUND_ROBIN' | 'RANDOM' | 'ALL' | 0 | 1 | 2 | 3

/**
 * The outbox: where publishes wait until a broker acknowledged them (while every broker is
 * down, before the first connection, and with `dir` across restarts and `kill -9`). In memory
 * unless `dir` is given. Durations in milliseconds.
 */
export interface OutboxOptions {
  /** a directory: a disk outbox (segment log; one process at a time owns it) */
  dir?: string
  /** at most this many messages (100000); -1: no bound */
  maxMessages?: number
  /** at most this many bytes of topics and payloads (64 MiB); -1: no bound */
  maxBytes?: number
  /**
   * a full outbox: 'refuse' (default) fails the new publish at once with HAMQTT_ERR_FULL (not
   * stored); 'drop-oldest' drops the oldest message waiting (its callback gets
   * HAMQTT_ERR_DROPPED). ('block' is not offered: it would stop the event loop.)
   */
  overflow?: 'refuse' | 'drop-oldest'
  /** when a disk outbox forces its writes to disk: 'always' (default), 'interval', 'never' */
  sync?: 'always' | 'interval' | 'never'
  /** the period of sync 'interval' (100) */
  syncInterval?: number
  /** a message not delivered within this fails with HAMQTT_ERR_EXPIRED (0: never, the default) */
  expiry?: number
}

/** The outbox of a client, from outboxStats(). */
export interface OutboxStats {
  /** MqttClient: the outbox directory, null in memory */
  dir?: string | null
  /** published and not delivered yet (waiting, or in flight) */
  messages: number
  /** their topics and payloads */
  bytes: number
  /** when the oldest of them was stored (null when there is none) */
  oldest: Date | null
  /** its age in ms (0 when there is none) */
  oldestAge: number
  /** counters since the client was made */
  stored: number
  delivered: number
  dropped: number
  expired: number
  /** messages a disk outbox found, stored by an earlier process, when the client was made (0 in memory) */
  recovered: number
}

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
  /** persistent store of the MQTT session's in-flight messages (memory when unset); see outbox */
  fileStoreDir?: string
  /**
   * MqttClient: the outbox it always keeps (in memory by default, as MQTT.js keeps what is
   * published offline). QoS 0 messages are stored unless queueQoSZero is false.
   */
  outbox?: OutboxOptions
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
  /**
   * MQTT 5: whether publishes carry the engine's message id, a user property "hamqtt-id" (the
   * same on every copy and retry) that lets dedup subscribers drop copies exactly. 'auto'
   * (default) stamps with publisherType ALL or an outbox (MqttClient always has one); receivers
   * that are not hamqtt see the user property; 'never' sends messages exactly as given.
   */
  messageIds?: 'auto' | 'always' | 'never'
  /** MQTT 5: the engine uses no topic aliases towards brokers (it does by default, within each broker's Topic Alias Maximum) */
  noTopicAliases?: boolean
}

/** MQTT 5 user properties, as MQTT.js gives and takes them: a repeated name has an array of values. */
export type UserProperties = { [name: string]: string | string[] }

/** MQTT 5 CONNECT properties (MQTT.js's IConnectPacket['properties'], as far as the engine sends them). */
export interface IConnectProperties {
  /** seconds brokers keep the session after the connection ended (0xFFFFFFFF: never expires) */
  sessionExpiryInterval?: number
  /** QoS 1/2 messages a broker may have unacknowledged towards this client (1-65535) */
  receiveMaximum?: number
  /** topic aliases brokers may use towards this client (the engine resolves them) */
  topicAliasMaximum?: number
  requestResponseInformation?: boolean
  requestProblemInformation?: boolean
  userProperties?: UserProperties
  /** not supported (MQTT 5 enhanced authentication): throws */
  authenticationMethod?: never
  /** the largest packet, in bytes, brokers may send this client (16 or more; without it 64 MiB):
   * a broker forwards no larger message to it */
  maximumPacketSize?: number
}

/** MQTT 5 properties of a message: publish options, will, and (with subscriptionIdentifier) received messages. */
export interface IPublishProperties {
  payloadFormatIndicator?: boolean
  /** seconds */
  messageExpiryInterval?: number
  /** accepted and ignored: the engine assigns topic aliases itself, per broker connection */
  topicAlias?: number
  responseTopic?: string
  correlationData?: Buffer
  userProperties?: UserProperties
  contentType?: string
}

/** The properties of a received message, as MQTT.js gives them. */
export interface IReceivedPublishProperties extends Omit<IPublishProperties, 'topicAlias'> {
  /** the identifier of the subscription it matched; an array when it matched several */
  subscriptionIdentifier?: number | number[]
}

/** MQTT 5 will properties. */
export interface IWillProperties extends Omit<IPublishProperties, 'topicAlias'> {
  /** seconds brokers wait before publishing the will (none if the session resumes first) */
  willDelayInterval?: number
}

/** The MQTT 5 CONNACK properties of the longest-live broker (each present when the broker sent it). */
export interface IConnackProperties {
  sessionExpiryInterval?: number
  /**
   * clientId '': the id the engine made for this client ("hamqtt-<cluster>-<random>"; every broker
   * knows the client by it), where a broker would have assigned one
   */
  assignedClientIdentifier?: string
  serverKeepAlive?: number
  responseInformation?: string
  serverReference?: string
  reasonString?: string
  receiveMaximum?: number
  topicAliasMaximum?: number
  maximumQoS?: number
  retainAvailable?: boolean
  userProperties?: UserProperties
  maximumPacketSize?: number
  wildcardSubscriptionAvailable?: boolean
  subscriptionIdentifiersAvailable?: boolean
  sharedSubscriptionAvailable?: boolean
}

/** HaMqttClient's options: those of `ha`, with an outbox only when asked. */
export interface HaClientOptions extends Omit<HaOptions, 'outbox'> {
  /** 5: MQTT 5 to every broker (message properties in publish and publishTo); 4 (default): MQTT 3.1.1 */
  protocolVersion?: 4 | 5
  /** true: a memory outbox with the defaults; an object: configured; absent or false: none */
  outbox?: boolean | (OutboxOptions & {
    /** store QoS 0 messages too (false: a QoS 0 publish no broker took within timeToWait fails) */
    qos0?: boolean
  })
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
  /** seconds (60); 0 turns keep-alive off, as in MQTT.js */
  keepalive?: number
  clean?: boolean
  /** ms between reconnect attempts while no broker is live (1000); 0: no reconnection. Also the
   *  backoff after a broker's first refusal; a broker that is down is re-checked every 105-245 ms */
  reconnectPeriod?: number
  /** ms (30000) */
  connectTimeout?: number
  will?: { topic: string, payload: string | Buffer, qos?: QoS, retain?: boolean, /** MQTT 5 */ properties?: IWillProperties }
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
  /** 4: MQTT 3.1.1 (default); 5: MQTT 5, on every broker of the cluster */
  protocolVersion?: 4 | 5
  /** MQTT 5 CONNECT properties */
  properties?: IConnectProperties
  /** accepted; the engine assigns topic aliases itself (see ha.noTopicAliases) */
  autoUseTopicAlias?: boolean
  autoAssignTopicAlias?: boolean
  /** PEM text */
  ca?: string | Buffer | Array<string | Buffer>
  cert?: string | Buffer | Array<string | Buffer>
  key?: string | Buffer | Array<string | Buffer>
  rejectUnauthorized?: boolean
  /** store QoS 0 messages in the outbox too (true); false: a QoS 0 publish while not connected fails at once */
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
  /** QoS 1/2: called once the message is stored in the outbox (before publish() returns) */
  cbStorePut?: () => void
  /** MQTT 5 (protocolVersion 5); subscriptionIdentifier is refused (brokers add it) */
  properties?: IPublishProperties
}

export interface IClientSubscribeOptions {
  qos?: QoS
  /** MQTT 5 no local: brokers do not send this client its own messages */
  nl?: boolean
  /** MQTT 5 retain as published: forwarded messages keep their RETAIN flag */
  rap?: boolean
  /** MQTT 5 retain handling: 0 send retained messages, 1 only for a new subscription, 2 never */
  rh?: 0 | 1 | 2
  /** MQTT 5: for every filter of the call: subscriptionIdentifier (1-268435455), and user
   * properties sent with the SUBSCRIBE (again wherever the engine makes the subscription later) */
  properties?: { subscriptionIdentifier?: number, userProperties?: UserProperties }
}

/** MQTT 5: user properties sent with the UNSUBSCRIBE */
export interface IClientUnsubscribeOptions {
  properties?: { userProperties?: UserProperties }
}

/** end()'s MQTT 5 DISCONNECT (MQTT 3.1.1: left out, as MQTT.js does) */
export interface IClientEndOptions {
  /** 0 normal (the will is not published), 4 disconnect with will message (every broker
   * publishes it), or a failure code a client may send (0x80-0x83, 0x90, 0x93-0x97, 0x99) */
  reasonCode?: number
  properties?: {
    /** a new session expiry; not allowed to become non-zero when the client connected with none */
    sessionExpiryInterval?: number
    reasonString?: string
    userProperties?: UserProperties
  }
}

/** What subscribe's callback gets per filter: the request, with the QoS the brokers granted. */
export interface ISubscriptionGrant {
  topic: string
  /** the granted QoS; a refused subscribe fails with ErrorWithSubackPacket (the codes in its SUBACK) */
  qos: number
  /** MQTT 5 */
  nl?: boolean
  rap?: boolean
  rh?: number
  properties?: { subscriptionIdentifier?: number, userProperties?: UserProperties }
}

export interface ISubscriptionMap {
  [topic: string]: IClientSubscribeOptions
}

/** MQTT 5: a refused publish (err.code: the broker's reason code, e.g. 135), as MQTT.js's. */
export declare class ErrorWithReasonCode extends Error {
  constructor (message: string, code: number)
  code: number
  /** hamqtt: HAMQTT_ERR_REFUSED */
  status?: number
  /** hamqtt: the PUBACK (QoS 1) or PUBREC (QoS 2) that carried the code */
  packet?: IPubackPacket
}

/** A refused subscribe (err.packet: the SUBACK with the reason codes), as MQTT.js's. */
export declare class ErrorWithSubackPacket extends Error {
  constructor (message: string, packet: ISubackPacket)
  packet: ISubackPacket
}

/** MQTT 5 reason codes and their texts, as MQTT.js's. */
export declare const ReasonCodes: Readonly<Record<number, string>>

/** The CONNACK 'connect' and 'packetreceive' get: the cluster's, not one broker's. */
export interface IConnackPacket {
  cmd: 'connack'
  retain: false
  qos: 0
  dup: false
  length: number
  topic: null
  payload: null
  /** MQTT 3.1.1 */
  returnCode?: 0
  /** MQTT 5 (in place of returnCode) */
  reasonCode?: 0
  /** every live broker still had this client's session (clean: false) */
  sessionPresent: boolean
  /** MQTT 5: the CONNACK properties of the longest-live broker */
  properties?: IConnackProperties
}

/** What subscribe's callback (third argument) and 'packetreceive' get once the brokers acknowledged. */
export interface ISubackPacket {
  cmd: 'suback'
  /** per filter the QoS granted (the lowest any subscriber endpoint granted), or the reason code (0x80 and above) a broker refused it with */
  granted: number[]
  /** the client's own number for the subscribe call (each broker has its own packet id) */
  messageId: number
}

/** What unsubscribe's callback and unsubscribeAsync() get. */
export interface IUnsubackPacket {
  cmd: 'unsuback'
  messageId: number
}

/** 'packetreceive' for an acknowledged QoS 1 (puback) or QoS 2 (pubcomp) publish; MQTT 5: a
 * refused one's puback or pubrec, with its reason code (also the callback's second argument). */
export interface IPubackPacket {
  cmd: 'puback' | 'pubcomp' | 'pubrec'
  /** the messageId of the publish packet (of packetsend and the publish callback) */
  messageId: number
  /** MQTT 5 */
  reasonCode?: number
}

export interface ISubscribePacket {
  cmd: 'subscribe'
  subscriptions: ISubscriptionGrant[]
  messageId: number
}

export interface IUnsubscribePacket {
  cmd: 'unsubscribe'
  unsubscriptions: string[]
  messageId: number
  properties?: { userProperties?: UserProperties }
}

/** packetsend: the client's DISCONNECT (MQTT 5: with end()'s reasonCode and properties);
 * 'disconnect': a broker's (MQTT 5), with its reason code, reason string and server reference */
export interface IDisconnectPacket {
  cmd: 'disconnect'
  reasonCode?: number
  properties?: { reasonString?: string, serverReference?: string, sessionExpiryInterval?: number, userProperties?: UserProperties }
  /** 'disconnect': the endpoint (broker) of the cluster that sent it */
  endpoint?: string
}

/** The packets of 'packetsend' / 'packetreceive': what the client exchanges with the cluster as a whole. */
export type Packet = IConnackPacket | IPublishPacket | IOutgoingPublishPacket | ISubackPacket | IUnsubackPacket | IPubackPacket |
  ISubscribePacket | IUnsubscribePacket | IDisconnectPacket

export interface IPublishPacket {
  cmd: 'publish'
  topic: string
  payload: Buffer
  qos: QoS
  retain: boolean
  dup: boolean
  length: number
  /** hamqtt: the endpoint the message arrived through ('message' only) */
  endpoint?: string
  /** absent: the broker's packet id does not reach the application */
  messageId?: number
  /** MQTT 5: absent when the message carried none */
  properties?: IReceivedPublishProperties
}

/** The publish packet of publish's callback, publishAsync() and 'packetsend': as it was handed to the cluster. */
export interface IOutgoingPublishPacket {
  cmd: 'publish'
  topic: string
  payload: string | Buffer
  qos: QoS
  retain: boolean
  dup: false
  /** the client's number for a QoS 1/2 publish (0 for QoS 0); each broker has its own packet id */
  messageId: number
  /** MQTT 5: the properties given */
  properties?: IPublishProperties
}

/**
 * publish's callback: QoS 0 gets no arguments, QoS 1/2 (null, packet) once a broker
 * acknowledged it; a failure (error): HAMQTT_ERR_FULL at once from publish() (the outbox had no
 * room: not stored), later HAMQTT_ERR_DROPPED, HAMQTT_ERR_EXPIRED, HAMQTT_ERR_REFUSED, or
 * 'Connection closed' (HAMQTT_ERR_CLOSED) from end(true). MQTT 5: a broker's refusal is an
 * ErrorWithReasonCode (err.code 135 and the like), with the PUBACK or PUBREC as packet.
 */
export type PacketCallback = (error?: Error | ErrorWithReasonCode | null, packet?: IOutgoingPublishPacket | IPubackPacket) => void
export type ClientSubscribeCallback = (err: Error | null, granted?: ISubscriptionGrant[], packet?: ISubackPacket) => void
export type UnsubscribeCallback = (err: Error | null, packet?: IUnsubackPacket) => void
export type DoneCallback = (error?: Error) => void
export type OnMessageCallback = (topic: string, payload: Buffer, packet: IPublishPacket) => void

/**
 * The 'error' of a connection attempt that every broker refused, shaped as net's: code
 * 'ECONNREFUSED', errno, syscall 'connect'; address and port with one broker, `errors` (one
 * such error per broker) with several; `cause` is the library's HAMQTT_ERR_NO_ENDPOINT error.
 */
export interface ConnectionRefusedError extends Error {
  code: 'ECONNREFUSED'
  errno: number
  syscall: 'connect'
  address?: string
  port?: number
  /** hamqtt: the endpoint's name */
  endpoint?: string
  errors?: ConnectionRefusedError[]
  cause?: HamqttError
}

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

/**
 * The events of MqttClient, in MQTT.js's order: a failed attempt is 'error', then ('offline'
 * once per outage with reconnectPeriod > 0) 'close'; while nothing is live, every
 * reconnectPeriod 'reconnect' then 'connect' or 'error' + 'close'.
 */
export interface MqttClientEventCallbacks {
  connect: (packet: IConnackPacket) => void
  message: OnMessageCallback
  /** what the client hands to the cluster: publish, subscribe, unsubscribe, disconnect */
  packetsend: (packet: Packet) => void
  /** what the cluster answered: connack, publish (before 'message'), puback, pubcomp, suback, unsuback */
  packetreceive: (packet: Packet) => void
  /** MQTT 5: a broker closed its connection with a DISCONNECT (packet.endpoint names it), also
   * while other brokers of the cluster stay live; 'offline' and 'close' follow only when none is */
  disconnect: (packet: IDisconnectPacket) => void
  error: (error: ConnectionRefusedError | HamqttError | (Error & { code?: string })) => void
  close: () => void
  end: () => void
  reconnect: () => void
  offline: () => void
  /** hamqtt: an endpoint of the cluster connected */
  endpointUp: (name: string) => void
  /** hamqtt: an endpoint of the cluster moved to the dead list */
  endpointDown: (name: string, reason: string | null) => void
}

export declare class MqttClient extends EventEmitter {
  constructor (brokerUrl?: string | IClientOptions, opts?: IClientOptions)
  /** at least one endpoint of the cluster is live */
  connected: boolean
  reconnecting: boolean
  disconnecting: boolean
  disconnected: boolean
  options: IClientOptions & { endpoints: string | null, cluster: string | null }

  on<E extends keyof MqttClientEventCallbacks> (event: E, cb: MqttClientEventCallbacks[E]): this
  on (event: string | symbol, cb: (...args: any[]) => void): this
  once<E extends keyof MqttClientEventCallbacks> (event: E, cb: MqttClientEventCallbacks[E]): this
  once (event: string | symbol, cb: (...args: any[]) => void): this
  prependListener<E extends keyof MqttClientEventCallbacks> (event: E, cb: MqttClientEventCallbacks[E]): this
  prependListener (event: string | symbol, cb: (...args: any[]) => void): this
  prependOnceListener<E extends keyof MqttClientEventCallbacks> (event: E, cb: MqttClientEventCallbacks[E]): this
  prependOnceListener (event: string | symbol, cb: (...args: any[]) => void): this
  off<E extends keyof MqttClientEventCallbacks> (event: E, cb: MqttClientEventCallbacks[E]): this
  off (event: string | symbol, cb: (...args: any[]) => void): this
  removeListener<E extends keyof MqttClientEventCallbacks> (event: E, cb: MqttClientEventCallbacks[E]): this
  removeListener (event: string | symbol, cb: (...args: any[]) => void): this

  /** starts connecting (with manualConnect) */
  connect (): this
  publish (topic: string, message: string | Buffer | Uint8Array, opts?: IClientPublishOptions, callback?: PacketCallback): this
  publish (topic: string, message: string | Buffer | Uint8Array, callback?: PacketCallback): this
  publishAsync (topic: string, message: string | Buffer | Uint8Array, opts?: IClientPublishOptions): Promise<IOutgoingPublishPacket | undefined>
  subscribe (topic: string | string[] | ISubscriptionMap, opts?: IClientSubscribeOptions, callback?: ClientSubscribeCallback): this
  subscribe (topic: string | string[] | ISubscriptionMap, callback?: ClientSubscribeCallback): this
  subscribeAsync (topic: string | string[] | ISubscriptionMap, opts?: IClientSubscribeOptions): Promise<ISubscriptionGrant[]>
  unsubscribe (topic: string | string[], callback?: UnsubscribeCallback): this
  unsubscribe (topic: string | string[], opts?: IClientUnsubscribeOptions, callback?: UnsubscribeCallback): this
  unsubscribeAsync (topic: string | string[], opts?: IClientUnsubscribeOptions): Promise<IUnsubackPacket>
  /** an end() while (or after) the client ends calls back at once, as MQTT.js */
  end (cb?: DoneCallback): this
  end (force?: boolean, cb?: DoneCallback): this
  end (force?: boolean, opts?: IClientEndOptions, cb?: DoneCallback): this
  endAsync (force?: boolean, opts?: IClientEndOptions): Promise<void>
  /** drops every connection and connects again ('reconnect', 'close', 'end', 'connect' when connected) */
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
  /** hamqtt: the outbox's depth, bytes, oldest message and counters; null once ended */
  outboxStats (): OutboxStats | null
  /**
   * MQTT.js's offline queue as far as code reads it: `length` is the number of messages in the
   * outbox (published, not delivered yet); the entries are not exposed (empty slots).
   */
  readonly queue: ReadonlyArray<never>
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
  /** MQTT 5 (a configured cluster speaking it): the message's properties, MQTT.js shaped */
  properties?: IReceivedPublishProperties
}

/** HaMqttClient.publish/publishTo options; properties: MQTT 5 (protocolVersion 5, or a configured
 * cluster speaking it; padogrid's MqttMessage properties), refused with HAMQTT_ERR_INVALID over MQTT 3.1.1 */
export interface HaPublishOptions {
  qos?: QoS
  retain?: boolean
  properties?: IPublishProperties
}

/** A client of one virtual cluster (the native HA API). */
export declare class HaMqttClient extends EventEmitter {
  /** @param endpoints broker URIs with lists and ranges: "tcp://10.0.0.5-7:1883-1885,ssl://b:8883" */
  constructor (endpoints: string, options?: HaClientOptions)
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
  /**
   * resolves once delivered (QoS 1/2: acknowledged). With an outbox the message is stored first
   * (also before connect()) and waits out any outage; rejects with HAMQTT_ERR_FULL when it was
   * not stored, later HAMQTT_ERR_DROPPED, HAMQTT_ERR_EXPIRED, HAMQTT_ERR_CLOSED (close())
   */
  publish (topic: string, payload: string | Buffer | Uint8Array, options?: HaPublishOptions): Promise<{ endpoints: string[] }>
  publishTo (endpoint: string, topic: string, payload: string | Buffer | Uint8Array, options?: HaPublishOptions): Promise<void>
  subscribe (filter: string, options?: { qos?: QoS }): Promise<void>
  unsubscribe (filter: string): Promise<void>
  liveEndpoints (): string[]
  deadEndpoints (): string[]
  stats (): EndpointStats[]
  /** the outbox's depth, bytes, oldest message and counters; null without an outbox */
  outboxStats (): OutboxStats | null
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
  createClient (endpoints: string, options?: HaClientOptions): HaMqttClient
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
  ErrorWithReasonCode: typeof ErrorWithReasonCode
  ErrorWithSubackPacket: typeof ErrorWithSubackPacket
  ReasonCodes: typeof ReasonCodes
  libraryVersion: string
  status: Readonly<Record<string, number>>
}
export default _default
