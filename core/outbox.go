package core

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// OverflowPolicy is what a full outbox does with a new message.
type OverflowPolicy int

const (
	// OverflowRefuse fails the new publish with ErrOutboxFull; nothing stored is touched.
	OverflowRefuse OverflowPolicy = iota
	// OverflowBlock makes the publisher wait for room, up to its timeout (TimeToWait for an
	// asynchronous publish, the context or TimeToWait for a blocking one), then ErrOutboxFull.
	OverflowBlock
	// OverflowDropOldest makes room by dropping the oldest messages still waiting to be sent
	// (not one being sent): each dropped message's publish fails with ErrDropped and is
	// reported as an EventDelivery.
	OverflowDropOldest
)

func (p OverflowPolicy) String() string {
	switch p {
	case OverflowRefuse:
		return "refuse"
	case OverflowBlock:
		return "block"
	case OverflowDropOldest:
		return "drop-oldest"
	}
	return fmt.Sprintf("OverflowPolicy(%d)", int(p))
}

// ParseOverflowPolicy reads "refuse", "block" or "drop-oldest".
func ParseOverflowPolicy(s string) (OverflowPolicy, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "refuse", "error", "":
		return OverflowRefuse, nil
	case "block":
		return OverflowBlock, nil
	case "drop-oldest", "drop_oldest", "dropoldest":
		return OverflowDropOldest, nil
	}
	return 0, fmt.Errorf("unknown overflow policy %q: use refuse, block or drop-oldest", s)
}

// OutboxConfig configures an Outbox.
type OutboxConfig struct {
	// Dir is the directory of a disk outbox, which survives the process's crash and (with
	// SyncAlways) a power loss. Empty: the outbox is kept in memory.
	Dir string
	// MaxMessages bounds the messages stored (default 100,000; negative: no bound).
	MaxMessages int
	// MaxBytes bounds the topics and payloads stored (default 64 MiB; negative: no bound). A
	// single message larger than MaxBytes is still taken when the outbox is empty, so that no
	// valid message can never be stored.
	MaxBytes int64
	// Overflow is what a full outbox does with a new message (default OverflowRefuse).
	Overflow OverflowPolicy
	// Sync is when a disk outbox forces its writes to disk (default SyncAlways).
	Sync SyncPolicy
	// SyncInterval is the period of SyncInterval (default 100 ms).
	SyncInterval time.Duration
	// SegmentBytes is the size at which a disk outbox starts a new segment file (default 16 MiB).
	SegmentBytes int64
	// QoS0 stores QoS 0 messages too, those that would have to wait: while a broker is live
	// and nothing stored waits ahead of them they are sent without being stored. Without it a
	// QoS 0 message that finds no live broker within TimeToWait fails, as QoS 0 promises no
	// delivery.
	QoS0 bool
	// Expiry drops a message that waited this long without being delivered (0: never); its
	// publish fails with ErrExpired and is reported as an EventDelivery.
	Expiry time.Duration
	// Logger receives what opening a disk outbox found (default: discard).
	Logger *slog.Logger
}

const (
	defaultOutboxMessages = 100_000
	defaultOutboxBytes    = 64 << 20
	defaultSyncInterval   = 100 * time.Millisecond
	defaultSegmentBytes   = 16 << 20
)

var (
	// ErrOutboxFull is wrapped by the error of a publish the outbox had no room for: it was
	// not stored. Raise OutboxConfig.MaxMessages/MaxBytes or choose another overflow policy.
	ErrOutboxFull = errors.New("the outbox is full")
	// ErrDropped is wrapped by the outcome of a stored message that OverflowDropOldest
	// dropped to make room for a newer one.
	ErrDropped = errors.New("dropped from the full outbox to make room for a newer message")
	// ErrExpired is wrapped by the outcome of a stored message that waited longer than
	// OutboxConfig.Expiry.
	ErrExpired = errors.New("expired in the outbox before any broker took it")
	// ErrStored is wrapped by the error of a blocking Publish whose message no broker
	// acknowledged within its wait but which the outbox holds: it is not lost and is sent,
	// in order, when a broker is live. It is not a failure to publish again.
	ErrStored = errors.New("stored in the outbox, not delivered yet")
)

// Outbox stores a cluster's outgoing messages until a broker acknowledges them: through a
// total outage (every broker down), and with a directory across restarts of the process.
// Messages leave it in publish order, under the cluster's in-flight window, failover and ALL
// rules. One cluster uses an outbox at a time (Config.Outbox); an outbox outlives the
// clusters that use it, so a cluster made again after Close resumes its messages.
type Outbox struct {
	cfg OutboxConfig
	log *segmentLog // nil: in memory
	rep RecoveryReport

	mu        sync.Mutex
	entries   []*outboxEntry // stored, unresolved, oldest first (resolved ones are trimmed lazily)
	head      int            // entries[:head] are resolved
	count     atomic.Int64   // changed under mu; read without it by empty
	bytes     int64
	nextSeq   atomic.Uint64
	owner     *Cluster
	roomFreed chan struct{} // closed and replaced whenever a message leaves
	closed    bool

	stored, delivered, dropped, expired atomic.Uint64
}

// Entry states: waiting in a cluster's queue, taken by the sender, resolved.
const (
	entryQueued int32 = iota
	entrySending
	entryResolved
)

// outboxEntry is one stored message.
type outboxEntry struct {
	seq      uint64
	req      publishReq
	t        *Token // nil until a cluster takes a recovered message
	storedAt time.Time
	expires  time.Time // zero: never
	size     int64
	seg      *segment
	state    atomic.Int32
}

// deadline is when the entry's publish gives up waiting for a broker: its expiry, or never.
func (e *outboxEntry) deadline() time.Time {
	if e.expires.IsZero() {
		return farFuture
	}
	return e.expires
}

var farFuture = time.Now().Add(100 * 365 * 24 * time.Hour)

// OpenOutbox opens an outbox: in memory, or in cfg.Dir, whose unresolved messages (stored by
// an earlier run) it recovers in order. A directory has one owner at a time: a second
// OpenOutbox on it, from this process or another, fails with ErrOutboxLocked.
func OpenOutbox(cfg OutboxConfig) (*Outbox, error) {
	if cfg.MaxMessages == 0 {
		cfg.MaxMessages = defaultOutboxMessages
	}
	if cfg.MaxBytes == 0 {
		cfg.MaxBytes = defaultOutboxBytes
	}
	if cfg.SyncInterval <= 0 {
		cfg.SyncInterval = defaultSyncInterval
	}
	if cfg.SegmentBytes <= 0 {
		cfg.SegmentBytes = defaultSegmentBytes
	}
	if cfg.Overflow < OverflowRefuse || cfg.Overflow > OverflowDropOldest {
		return nil, fmt.Errorf("outbox: unknown overflow policy %d", cfg.Overflow)
	}
	if cfg.Sync < SyncAlways || cfg.Sync > SyncNever {
		return nil, fmt.Errorf("outbox: unknown sync policy %d", cfg.Sync)
	}
	if cfg.Expiry < 0 {
		return nil, fmt.Errorf("outbox: negative expiry %v", cfg.Expiry)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	o := &Outbox{cfg: cfg, roomFreed: make(chan struct{})}
	o.nextSeq.Store(1)
	if cfg.Dir == "" {
		return o, nil
	}
	l, msgs, rep, err := openSegmentLog(cfg.Dir, cfg.Sync, cfg.SyncInterval, cfg.SegmentBytes, 1)
	if err != nil {
		return nil, err
	}
	o.log, o.rep = l, rep
	next := uint64(1)
	if n := len(l.segs); n > 0 {
		next = l.segs[n-1].first
	}
	for _, m := range msgs {
		e := &outboxEntry{seq: m.seq, storedAt: m.storedAt, expires: m.expires, seg: m.seg,
			size: int64(len(m.topic) + len(m.payload)),
			req:  publishReq{topic: m.topic, qos: m.qos, retained: m.retained, payload: m.payload, props: m.props, stamp: m.stamp}}
		if m.props != nil && m.props.MessageExpiry != nil && *m.props.MessageExpiry > 0 {
			e.req.expires = m.storedAt.Add(time.Duration(*m.props.MessageExpiry) * time.Second)
		}
		o.entries = append(o.entries, e)
		o.count.Add(1)
		o.bytes += e.size
		next = max(next, m.seq+1)
	}
	o.nextSeq.Store(next)
	for _, p := range rep.Problems {
		cfg.Logger.Warn("outbox: damage found and repaired on open", "dir", cfg.Dir, "problem", p)
	}
	if rep.Messages > 0 {
		cfg.Logger.Info("outbox: resuming messages stored by an earlier run", "dir", cfg.Dir, "messages", rep.Messages)
	}
	return o, nil
}

// Recovery reports what opening a disk outbox found (zero for a memory outbox).
func (o *Outbox) Recovery() RecoveryReport { return o.rep }

// OutboxStats is a snapshot of an outbox.
type OutboxStats struct {
	// Dir is the disk outbox's directory ("" in memory).
	Dir string
	// Messages and Bytes (topics and payloads) are what the outbox holds now: stored and not
	// yet acknowledged by a broker, including the ones being sent.
	Messages int
	Bytes    int64
	// Oldest is when the oldest message held was stored (zero when empty).
	Oldest time.Time
	// Stored, Delivered, Dropped and Expired count messages since the outbox was opened.
	Stored, Delivered, Dropped, Expired uint64
}

// OldestAge is how long the oldest message has waited (0 when empty).
func (s OutboxStats) OldestAge() time.Duration {
	if s.Oldest.IsZero() {
		return 0
	}
	return time.Since(s.Oldest)
}

// Stats returns the outbox's depth, size and the age of its oldest message.
func (o *Outbox) Stats() OutboxStats {
	o.mu.Lock()
	defer o.mu.Unlock()
	s := OutboxStats{Dir: o.cfg.Dir, Messages: int(o.count.Load()), Bytes: o.bytes,
		Stored: o.stored.Load(), Delivered: o.delivered.Load(), Dropped: o.dropped.Load(), Expired: o.expired.Load()}
	if e := o.oldestLocked(); e != nil {
		s.Oldest = e.storedAt
	}
	return s
}

func (o *Outbox) oldestLocked() *outboxEntry {
	for o.head < len(o.entries) && o.entries[o.head].state.Load() == entryResolved {
		o.entries[o.head] = nil
		o.head++
	}
	if o.head > 1024 && o.head*2 > len(o.entries) {
		o.entries = append(o.entries[:0:0], o.entries[o.head:]...)
		o.head = 0
	}
	if o.head < len(o.entries) {
		return o.entries[o.head]
	}
	return nil
}

// Close closes the outbox. The cluster using it must be closed first. Publishes still
// unresolved end with ErrClosed: with a directory they stay stored for the next OpenOutbox;
// in memory they are lost.
func (o *Outbox) Close() error {
	o.mu.Lock()
	if o.owner != nil {
		name := o.owner.cfg.Name
		o.mu.Unlock()
		return fmt.Errorf("outbox: cluster %q still uses it: close the cluster first", name)
	}
	if o.closed {
		o.mu.Unlock()
		return nil
	}
	o.closed = true
	var left []*Token
	for _, e := range o.entries[o.head:] {
		if e.state.Load() != entryResolved && e.t != nil {
			left = append(left, e.t)
		}
	}
	close(o.roomFreed)
	o.mu.Unlock()
	err := ErrClosed
	if o.log != nil {
		err = fmt.Errorf("%w; the message stays stored in the outbox %s and is sent after it is opened again", ErrClosed, o.cfg.Dir)
	} else if len(left) > 0 {
		err = fmt.Errorf("%w; the message was in a memory outbox and is lost", ErrClosed)
	}
	for _, t := range left {
		t.finish(nil, err)
	}
	if o.log != nil {
		return o.log.close()
	}
	return nil
}

// takes reports whether o stores a message of this QoS.
func (o *Outbox) takes(qos byte) bool { return qos > 0 || o.cfg.QoS0 }

// empty reports whether the outbox holds no unresolved message.
func (o *Outbox) empty() bool {
	return o.count.Load() == 0
}

// attach makes c the outbox's user and returns what it holds, oldest first, for c's queue.
func (o *Outbox) attach(c *Cluster) ([]*outboxEntry, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return nil, fmt.Errorf("outbox: %w", ErrClosed)
	}
	if o.owner != nil {
		return nil, fmt.Errorf("outbox: cluster %q already uses it: one cluster at a time uses an outbox (close that cluster first, or give each cluster its own outbox)", o.owner.cfg.Name)
	}
	o.owner = c
	var held []*outboxEntry
	for _, e := range o.entries[o.head:] {
		if e.state.Load() == entryResolved {
			continue
		}
		e.state.Store(entryQueued)
		if e.t == nil { // stored by an earlier run: nobody waits for it, failures are events
			e.t = &Token{id: e.seq, done: make(chan struct{}), detached: true, entry: e}
		}
		e.t.c = c
		held = append(held, e)
	}
	return held, nil
}

// detach ends c's use of the outbox; what c did not resolve stays for the next cluster.
func (o *Outbox) detach(c *Cluster) {
	o.mu.Lock()
	if o.owner == c {
		o.owner = nil
	}
	o.mu.Unlock()
}

// store puts req in the outbox under t's id and, while still holding the outbox (so the
// queue's order is the log's), hands it to enqueue. It waits for room as the overflow policy
// says (up to roomBy), and returns once the message is as durable as the sync policy promises.
func (o *Outbox) store(req publishReq, t *Token, roomBy time.Time, enqueue func(*outboxEntry)) error {
	size := int64(len(req.topic) + len(req.payload))
	var dropped []*outboxEntry
	o.mu.Lock()
	for !o.closed && !o.hasRoomLocked(size) {
		if o.cfg.Overflow == OverflowDropOldest {
			if victim := o.oldestQueuedLocked(); victim != nil {
				dropped = append(dropped, victim)
				continue
			}
			break
		}
		if o.cfg.Overflow != OverflowBlock {
			break
		}
		freed := o.roomFreed
		o.mu.Unlock()
		timer := time.NewTimer(time.Until(roomBy))
		select {
		case <-freed:
			timer.Stop()
			o.mu.Lock()
			continue
		case <-timer.C:
		}
		o.mu.Lock()
		break
	}
	if o.closed || (o.owner != nil && o.owner != t.c) {
		// A closed cluster whose outbox another cluster took must not store into it: nothing
		// would ever send the message or end its publish. Between clusters (no owner) it may:
		// the next cluster to attach queues what the outbox holds.
		o.mu.Unlock()
		o.finishDropped(dropped)
		return fmt.Errorf("publish %q: %w", req.topic, ErrClosed)
	}
	if !o.hasRoomLocked(size) {
		o.mu.Unlock()
		o.finishDropped(dropped)
		return fmt.Errorf("publish %q: %w (%d messages, %d bytes held; limits %d messages, %d bytes, overflow policy %s): nothing was stored",
			req.topic, ErrOutboxFull, o.count.Load(), o.bytes, o.cfg.MaxMessages, o.cfg.MaxBytes, o.cfg.Overflow)
	}
	now := time.Now()
	e := &outboxEntry{seq: t.id, req: req, t: t, storedAt: now, size: size}
	if o.cfg.Expiry > 0 {
		e.expires = now.Add(o.cfg.Expiry)
	}
	if !req.expires.IsZero() && (e.expires.IsZero() || req.expires.Before(e.expires)) {
		e.expires = req.expires // the message's own MQTT 5 expiry is sooner
	}
	var pos uint64
	if o.log != nil {
		m := storedMessage{seq: e.seq, storedAt: now, expires: e.expires, topic: req.topic, qos: req.qos,
			retained: req.retained, payload: req.payload, props: req.props, stamp: req.stamp}
		seg, at, err := o.log.appendMessage(&m)
		if err != nil {
			o.mu.Unlock()
			o.finishDropped(dropped)
			return fmt.Errorf("publish %q: not stored: %w", req.topic, err)
		}
		e.seg, pos = seg, at
	}
	t.entry = e
	o.entries = append(o.entries, e)
	o.count.Add(1)
	o.bytes += size
	o.stored.Add(1)
	enqueue(e)
	o.mu.Unlock()
	o.finishDropped(dropped)
	if o.log != nil {
		if err := o.log.waitDurable(pos); err != nil {
			return fmt.Errorf("publish %q: written to the outbox but not forced to disk, so a power loss may lose it: %w", req.topic, err)
		}
	}
	return nil
}

func (o *Outbox) hasRoomLocked(size int64) bool {
	if o.cfg.MaxMessages > 0 && int(o.count.Load())+1 > o.cfg.MaxMessages {
		return false
	}
	if o.cfg.MaxBytes > 0 && o.bytes+size > o.cfg.MaxBytes && o.count.Load() > 0 {
		return false
	}
	return true
}

// oldestQueuedLocked takes the oldest entry no sender has taken out of the outbox, for
// dropping (its room is freed, its publish is ended by finishDropped).
func (o *Outbox) oldestQueuedLocked() *outboxEntry {
	for _, e := range o.entries[o.head:] {
		if e.state.CompareAndSwap(entryQueued, entryResolved) {
			o.freeLocked(e)
			return e
		}
	}
	return nil
}

// finishDropped ends the publishes of dropped entries (outside the outbox's lock: ending a
// publish reports an event).
func (o *Outbox) finishDropped(dropped []*outboxEntry) {
	for _, e := range dropped {
		o.dropped.Add(1)
		err := fmt.Errorf("publish %q: %w", e.req.topic, ErrDropped)
		o.mu.Lock()
		t := e.t
		var c *Cluster
		if t != nil {
			c = t.c
		}
		o.mu.Unlock()
		switch {
		case c != nil:
			c.complete(t, e.req.topic, nil, err)
		case t != nil:
			t.finish(nil, err)
		}
	}
}

// letGo records that t's cluster closed with t's message still stored: the next cluster to
// use the outbox carries it.
func (o *Outbox) letGo(t *Token) {
	o.mu.Lock()
	t.c = nil
	if t.entry.state.Load() == entrySending {
		t.entry.state.Store(entryQueued)
	}
	o.mu.Unlock()
}

// resolve records that e left the outbox (delivered, or failed for good).
func (o *Outbox) resolve(e *outboxEntry, err error) {
	o.mu.Lock()
	if !o.resolveLocked(e) {
		o.mu.Unlock()
		return
	}
	o.mu.Unlock()
	switch {
	case err == nil:
		o.delivered.Add(1)
	case errors.Is(err, ErrExpired):
		o.expired.Add(1)
	}
}

// resolveLocked marks e resolved and frees its room; false if it already was.
func (o *Outbox) resolveLocked(e *outboxEntry) bool {
	if e.state.Swap(entryResolved) == entryResolved {
		return false
	}
	o.freeLocked(e)
	return true
}

// freeLocked records e's resolution and frees its room.
func (o *Outbox) freeLocked(e *outboxEntry) {
	o.count.Add(-1)
	o.bytes -= e.size
	if o.log != nil && e.seg != nil {
		if err := o.log.resolve(e.seq, e.seg); err != nil && !errors.Is(err, ErrClosed) {
			o.cfg.Logger.Warn("outbox: recording a delivery failed; the message may be sent again after a restart", "dir", o.cfg.Dir, "err", err)
		}
	}
	if !o.closed {
		close(o.roomFreed)
		o.roomFreed = make(chan struct{})
	}
	o.oldestLocked() // lets go of the resolved entries at the head
}
