package core

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hamqtt/hamqtt/internal/mqtt5"
)

// The disk outbox is an append-only log of segment files in one directory. A record is
//
//	marker (2 bytes) | body length (4, little endian) | CRC-32C of length and body (4) | body
//
// and a body is a stored message or the resolution of one, keyed by the outbox's own 64-bit
// sequence number (never by MQTT packet id, which wraps at 65,535 and is reused). A segment is
// named after the first sequence number it may hold, in hex, so segments sort by sequence
// and never by file times. Each run appends to a segment of its own; a segment whose messages
// are all resolved is deleted, oldest first. The marker lets the reader find the next whole
// record after a damaged one; the CRC tells a damaged or torn record from a whole one.
const (
	segmentMagic    = "HAMQOBX1"
	recordMarker0   = 0xB0
	recordMarker1   = 0x58
	recordHeaderLen = 10
	recordMessage   = 1
	recordResolved  = 2
	// maxRecordBody bounds the length field, so a damaged one is not taken for a huge record.
	maxRecordBody = MaxPayloadSize + 64<<10
	lockFileName  = "LOCK"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// storedMessage is a message as the disk outbox keeps it.
type storedMessage struct {
	seq      uint64
	storedAt time.Time
	expires  time.Time // zero: never
	topic    string
	qos      byte
	retained bool
	payload  []byte
	props    *Properties // MQTT 5
	stamp    string      // MQTT 5: the message id, kept so a resend after a restart is known as a copy
}

// flagProperties marks a record whose topic is followed by its MQTT 5 properties: a length
// (uint32) and a PUBLISH packet with no payload that carries them (the codec's own checks
// then guard what is read back).
const flagProperties = 2

func encodeMessage(m *storedMessage) []byte {
	var props []byte
	if !m.props.empty() || m.stamp != "" {
		pkt := &mqtt5.Publish{Topic: "p"}
		m.props.toWire(&pkt.Properties, 0, m.stamp)
		props, _ = pkt.Append(nil) // validated when the message was made
	}
	body := make([]byte, 0, 1+8+8+8+1+1+2+len(m.topic)+4+len(props)+len(m.payload))
	body = append(body, recordMessage)
	body = binary.LittleEndian.AppendUint64(body, m.seq)
	body = binary.LittleEndian.AppendUint64(body, uint64(m.storedAt.UnixNano()))
	var exp int64
	if !m.expires.IsZero() {
		exp = m.expires.UnixNano()
	}
	body = binary.LittleEndian.AppendUint64(body, uint64(exp))
	var flags byte
	if m.retained {
		flags = 1
	}
	if props != nil {
		flags |= flagProperties
	}
	body = append(body, m.qos, flags)
	body = binary.LittleEndian.AppendUint16(body, uint16(len(m.topic)))
	body = append(body, m.topic...)
	if props != nil {
		body = binary.LittleEndian.AppendUint32(body, uint32(len(props)))
		body = append(body, props...)
	}
	body = append(body, m.payload...)
	return frameRecord(body)
}

func encodeResolved(seq uint64) []byte {
	body := make([]byte, 0, 9)
	body = append(body, recordResolved)
	body = binary.LittleEndian.AppendUint64(body, seq)
	return frameRecord(body)
}

func frameRecord(body []byte) []byte {
	rec := make([]byte, recordHeaderLen, recordHeaderLen+len(body))
	rec[0], rec[1] = recordMarker0, recordMarker1
	binary.LittleEndian.PutUint32(rec[2:6], uint32(len(body)))
	rec = append(rec, body...)
	crc := crc32.Update(crc32.Checksum(rec[2:6], castagnoli), castagnoli, body)
	binary.LittleEndian.PutUint32(rec[6:10], crc)
	return rec
}

// parseRecord reads the record at the start of b: its body and length in b. complete is
// false when b ends inside the record (a torn tail, or damage in the length); ok is false when
// the bytes there are not a whole, intact record.
func parseRecord(b []byte) (body []byte, n int, ok, complete bool) {
	if len(b) < recordHeaderLen {
		return nil, 0, false, false
	}
	if b[0] != recordMarker0 || b[1] != recordMarker1 {
		return nil, 0, false, true
	}
	size := binary.LittleEndian.Uint32(b[2:6])
	if size == 0 || size > maxRecordBody {
		return nil, 0, false, true
	}
	n = recordHeaderLen + int(size)
	if len(b) < n {
		return nil, 0, false, false
	}
	body = b[recordHeaderLen:n]
	crc := crc32.Update(crc32.Checksum(b[2:6], castagnoli), castagnoli, body)
	if crc != binary.LittleEndian.Uint32(b[6:10]) {
		return nil, 0, false, true
	}
	return body, n, true, true
}

// decodeBody reads a record body; ok is false for an intact record of an unknown or
// malformed kind (written by a newer version, or a bug), which is skipped and reported.
func decodeBody(body []byte) (kind byte, m storedMessage, ok bool) {
	kind = body[0]
	switch kind {
	case recordResolved:
		if len(body) != 9 {
			return kind, m, false
		}
		m.seq = binary.LittleEndian.Uint64(body[1:])
		return kind, m, true
	case recordMessage:
		const fixed = 1 + 8 + 8 + 8 + 1 + 1 + 2
		if len(body) < fixed {
			return kind, m, false
		}
		m.seq = binary.LittleEndian.Uint64(body[1:])
		m.storedAt = time.Unix(0, int64(binary.LittleEndian.Uint64(body[9:])))
		if exp := int64(binary.LittleEndian.Uint64(body[17:])); exp != 0 {
			m.expires = time.Unix(0, exp)
		}
		m.qos, m.retained = body[25], body[26]&1 != 0
		tlen := int(binary.LittleEndian.Uint16(body[27:]))
		if len(body) < fixed+tlen || m.qos > 2 {
			return kind, m, false
		}
		m.topic = string(body[fixed : fixed+tlen])
		rest := body[fixed+tlen:]
		if body[26]&flagProperties != 0 {
			if len(rest) < 4 {
				return kind, m, false
			}
			n := int(binary.LittleEndian.Uint32(rest))
			if n > len(rest)-4 {
				return kind, m, false
			}
			p, _, err := mqtt5.Decode(rest[4:4+n], 0)
			pub, ok := p.(*mqtt5.Publish)
			if err != nil || !ok {
				return kind, m, false
			}
			m.props, m.stamp = propertiesFromWire(&pub.Properties)
			rest = rest[4+n:]
		}
		m.payload = slices.Clone(rest)
		return kind, m, true
	}
	return kind, m, false
}

// segment is one file of the log.
type segment struct {
	first uint64 // the sequence number in its name
	path  string
	f     *os.File // open for appending (the current segment) or until deleted; nil when read only
	live  int      // its messages not resolved yet
}

// RecoveryReport says what opening a disk outbox found.
type RecoveryReport struct {
	// Messages is how many stored, unresolved messages were recovered.
	Messages int
	// Segments is how many segment files were read.
	Segments int
	// TornBytes is how many bytes of an incomplete last record were cut off the end of a
	// segment (a write the process or the machine did not finish).
	TornBytes int64
	// SkippedBytes is how many damaged bytes were skipped between intact records.
	SkippedBytes int64
	// Problems describes each torn or damaged place, for the log.
	Problems []string
}

// SyncPolicy tells when the disk outbox forces what it wrote to stable storage.
type SyncPolicy int

const (
	// SyncAlways: a message counts as stored only once fsync covered it; publishers that
	// store at the same time share one fsync (group commit). Survives power loss.
	SyncAlways SyncPolicy = iota
	// SyncInterval: a message counts as stored once written to the operating system, which
	// is forced to disk every SyncInterval. Survives the process's crash (kill -9); a power
	// loss can take the last SyncInterval's messages.
	SyncInterval
	// SyncNever: written to the operating system, which writes it when it chooses (usually
	// within 30 s). Survives the process's crash, not a power loss.
	SyncNever
)

func (p SyncPolicy) String() string {
	switch p {
	case SyncAlways:
		return "always"
	case SyncInterval:
		return "interval"
	case SyncNever:
		return "never"
	}
	return "SyncPolicy(" + strconv.Itoa(int(p)) + ")"
}

// ParseSyncPolicy reads "always", "interval" or "never".
func ParseSyncPolicy(s string) (SyncPolicy, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "always", "":
		return SyncAlways, nil
	case "interval":
		return SyncInterval, nil
	case "never", "none":
		return SyncNever, nil
	}
	return 0, fmt.Errorf("unknown sync policy %q: use always, interval or never", s)
}

// segmentLog is the disk outbox's storage.
type segmentLog struct {
	dir        string
	lock       *os.File
	policy     SyncPolicy
	maxSegment int64

	mu      sync.Mutex
	segs    []*segment // oldest first; the last one is appended to
	size    int64      // of the current segment
	written uint64     // bytes appended by this run, over every segment
	closed  bool
	failed  error // a write that could not be undone: no more appends

	syncMu sync.Mutex
	synced atomic.Uint64 // written, as of the last completed fsync

	stopSyncer chan struct{}
	syncerDone chan struct{}
}

// ErrOutboxLocked is wrapped by the error of opening a disk outbox that another process (or
// another outbox of this one) owns.
var ErrOutboxLocked = errors.New("the outbox is in use")

// openSegmentLog locks dir, reads every segment and starts a new one for this run, numbered
// next (or after the highest sequence number found). It returns the unresolved messages in
// sequence order with the segment each lives in.
func openSegmentLog(dir string, policy SyncPolicy, interval time.Duration, maxSegment int64, next uint64) (*segmentLog, []recoveredMessage, RecoveryReport, error) {
	var report RecoveryReport
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, report, fmt.Errorf("outbox %s: %w", dir, err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, nil, report, err
	}
	l := &segmentLog{dir: dir, lock: lock, policy: policy, maxSegment: maxSegment}
	msgs, err := l.recover(&report, &next)
	if err == nil {
		err = l.startSegment(next)
	}
	if err != nil {
		l.closeFiles()
		return nil, nil, report, err
	}
	l.dropResolvedLocked()
	if policy == SyncInterval {
		l.stopSyncer, l.syncerDone = make(chan struct{}), make(chan struct{})
		go l.syncEvery(interval)
	}
	return l, msgs, report, nil
}

// lockDir takes the directory's lock file, which one process at a time can hold; the kernel
// lets go of it when the process ends, however it ends.
func lockDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, lockFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("outbox %s: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		owner, _ := os.ReadFile(path)
		f.Close()
		who := strings.TrimSpace(string(owner))
		if who == "" {
			who = "unknown"
		}
		return nil, fmt.Errorf("outbox %s: %w by process %s: an outbox has one owner at a time; give each process (and each cluster) a directory of its own", dir, ErrOutboxLocked, who)
	}
	f.Truncate(0)
	f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return f, nil
}

// recoveredMessage is an unresolved message found on disk.
type recoveredMessage struct {
	storedMessage
	seg *segment
}

// recover reads every segment in sequence order, cuts torn tails off and skips damage, and
// sets *next past every sequence number seen.
func (l *segmentLog) recover(report *RecoveryReport, next *uint64) ([]recoveredMessage, error) {
	entries, err := os.ReadDir(l.dir)
	if err != nil {
		return nil, fmt.Errorf("outbox %s: %w", l.dir, err)
	}
	for _, e := range entries {
		name := e.Name()
		hex, ok := strings.CutSuffix(name, ".seg")
		if !ok {
			continue
		}
		first, err := strconv.ParseUint(hex, 16, 64)
		if err != nil {
			report.Problems = append(report.Problems, fmt.Sprintf("%s: not a segment name, left alone", name))
			continue
		}
		l.segs = append(l.segs, &segment{first: first, path: filepath.Join(l.dir, name)})
	}
	slices.SortFunc(l.segs, func(a, b *segment) int {
		switch {
		case a.first < b.first:
			return -1
		case a.first > b.first:
			return 1
		}
		return 0
	})
	pending := map[uint64]recoveredMessage{}
	for _, seg := range l.segs {
		*next = max(*next, seg.first)
		report.Segments++
		if err := l.readSegment(seg, report, pending, next); err != nil {
			return nil, err
		}
	}
	msgs := make([]recoveredMessage, 0, len(pending))
	for _, m := range pending {
		m.seg.live++
		msgs = append(msgs, m)
	}
	slices.SortFunc(msgs, func(a, b recoveredMessage) int {
		if a.seq < b.seq {
			return -1
		}
		return 1
	})
	report.Messages = len(msgs)
	return msgs, nil
}

func (l *segmentLog) readSegment(seg *segment, report *RecoveryReport, pending map[uint64]recoveredMessage, next *uint64) error {
	name := filepath.Base(seg.path)
	buf, err := os.ReadFile(seg.path)
	if err != nil {
		return fmt.Errorf("outbox %s: %w", l.dir, err)
	}
	if len(buf) < len(segmentMagic) || string(buf[:len(segmentMagic)]) != segmentMagic {
		if len(buf) < len(segmentMagic) && string(buf) == segmentMagic[:len(buf)] {
			// Created, and the process died before its header was whole: it holds nothing.
			report.TornBytes += int64(len(buf))
			return os.Truncate(seg.path, 0)
		}
		report.Problems = append(report.Problems, fmt.Sprintf("%s: not an outbox segment (bad header), left alone", name))
		seg.path = "" // never deleted
		return nil
	}
	off := len(segmentMagic)
	for off < len(buf) {
		body, n, ok, complete := parseRecord(buf[off:])
		if ok {
			kind, m, good := decodeBody(body)
			switch {
			case !good:
				report.Problems = append(report.Problems, fmt.Sprintf("%s at %d: an intact record of unknown kind %d, skipped", name, off, kind))
			case kind == recordMessage:
				pending[m.seq] = recoveredMessage{m, seg}
				*next = max(*next, m.seq+1)
			case kind == recordResolved:
				delete(pending, m.seq)
				*next = max(*next, m.seq+1)
			}
			off += n
			continue
		}
		resume := nextRecord(buf, off+1)
		if resume < 0 {
			torn := int64(len(buf) - off)
			report.TornBytes += torn
			how := "an incomplete last record"
			if complete {
				how = "a damaged last record"
			}
			report.Problems = append(report.Problems, fmt.Sprintf("%s at %d: %s (%d bytes) cut off", name, off, how, torn))
			return os.Truncate(seg.path, int64(off))
		}
		report.SkippedBytes += int64(resume - off)
		report.Problems = append(report.Problems, fmt.Sprintf("%s at %d: %d damaged bytes skipped", name, off, resume-off))
		off = resume
	}
	return nil
}

// nextRecord finds the first offset from off where an intact record starts; -1 if none.
func nextRecord(buf []byte, off int) int {
	for off < len(buf) {
		i := bytes.IndexByte(buf[off:], recordMarker0)
		if i < 0 {
			return -1
		}
		off += i
		if _, _, ok, _ := parseRecord(buf[off:]); ok {
			return off
		}
		off++
	}
	return -1
}

// startSegment creates this run's segment and makes its name durable.
func (l *segmentLog) startSegment(first uint64) error {
	path := filepath.Join(l.dir, fmt.Sprintf("%016x.seg", first))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("outbox %s: %w", l.dir, err)
	}
	st, err := f.Stat()
	if err == nil && st.Size() == 0 {
		_, err = f.Write([]byte(segmentMagic))
	}
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = syncDir(l.dir)
	}
	if err != nil {
		f.Close()
		return fmt.Errorf("outbox %s: starting a segment: %w", l.dir, err)
	}
	for _, s := range l.segs {
		if s.path == path { // a segment of an earlier run that was empty: append to it
			s.f = f
			l.segs = slices.DeleteFunc(l.segs, func(x *segment) bool { return x == s })
			l.segs = append(l.segs, s)
			l.size = st.Size()
			return nil
		}
	}
	l.segs = append(l.segs, &segment{first: first, path: path, f: f})
	l.size = int64(len(segmentMagic))
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// appendMessage writes m and returns where the log will be durable for it (see waitDurable).
func (l *segmentLog) appendMessage(m *storedMessage) (*segment, uint64, error) {
	rec := encodeMessage(m)
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usableLocked(); err != nil {
		return nil, 0, err
	}
	if l.size+int64(len(rec)) > l.maxSegment && l.size > int64(len(segmentMagic)) {
		if err := l.rotateLocked(m.seq); err != nil {
			return nil, 0, err
		}
	}
	if err := l.writeLocked(rec); err != nil {
		return nil, 0, err
	}
	seg := l.segs[len(l.segs)-1]
	seg.live++
	return seg, l.written, nil
}

func (l *segmentLog) usableLocked() error {
	if l.closed {
		return ErrClosed
	}
	return l.failed
}

// writeLocked appends rec to the current segment. A failed write (disk full) is undone, so
// the segment still ends with a whole record and what was stored before stays readable.
func (l *segmentLog) writeLocked(rec []byte) error {
	f := l.segs[len(l.segs)-1].f
	n, err := f.Write(rec)
	if err != nil {
		if n > 0 {
			if terr := f.Truncate(l.size); terr != nil {
				// The partial record stays; a reader cuts it off as a torn tail, but nothing
				// may follow it, so this run appends no more.
				l.failed = fmt.Errorf("outbox %s: a failed write could not be undone (%v); reopen the outbox", l.dir, terr)
			}
		}
		return fmt.Errorf("outbox %s: writing: %w", l.dir, err)
	}
	l.size += int64(n)
	l.written += uint64(n)
	return nil
}

// rotateLocked closes the current segment for appends (forcing it to disk first, so the
// synced mark still covers it) and starts the next.
func (l *segmentLog) rotateLocked(first uint64) error {
	cur := l.segs[len(l.segs)-1]
	if l.policy != SyncNever {
		if err := cur.f.Sync(); err != nil {
			return fmt.Errorf("outbox %s: %w", l.dir, err)
		}
	}
	if err := l.startSegment(first); err != nil {
		return err
	}
	// Kept open: a group commit may be syncing it right now. Closed when it is deleted.
	return nil
}

// resolve records that m (in seg) left the outbox: delivered, dropped or expired. The
// record is not forced to disk: if it is lost, the message is sent once more after a
// restart, which a dedup subscriber removes. A segment whose messages are all resolved is
// deleted once it is not the current one.
func (l *segmentLog) resolve(seq uint64, seg *segment) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usableLocked(); err != nil {
		return err
	}
	err := l.writeLocked(encodeResolved(seq))
	seg.live--
	l.dropResolvedLocked()
	return err
}

// dropResolvedLocked deletes the oldest segments while all their messages are resolved. Only
// a prefix is deleted: a later segment may hold the resolutions of an earlier one's messages.
func (l *segmentLog) dropResolvedLocked() {
	for len(l.segs) > 1 && l.segs[0].live == 0 && l.segs[0].path != "" {
		s := l.segs[0]
		if s.f != nil {
			s.f.Close()
		}
		os.Remove(s.path)
		l.segs = l.segs[1:]
	}
}

// waitDurable returns once what was written up to pos survives a power loss, as the policy
// promises: at once unless the policy is SyncAlways, which forces the log to disk, sharing
// one fsync among the callers waiting at the same time.
func (l *segmentLog) waitDurable(pos uint64) error {
	if l.policy != SyncAlways || l.synced.Load() >= pos {
		return nil
	}
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	if l.synced.Load() >= pos {
		return nil // another caller's fsync covered it
	}
	return l.syncNowLocked()
}

// syncNowLocked forces the current segment to disk (syncMu held).
func (l *segmentLog) syncNowLocked() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	target := l.written
	f := l.segs[len(l.segs)-1].f
	l.mu.Unlock()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("outbox %s: fsync: %w", l.dir, err)
	}
	if target > l.synced.Load() {
		l.synced.Store(target)
	}
	return nil
}

func (l *segmentLog) syncEvery(interval time.Duration) {
	defer close(l.syncerDone)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-l.stopSyncer:
			return
		case <-t.C:
			l.mu.Lock()
			dirty := l.written > l.synced.Load()
			l.mu.Unlock()
			if dirty {
				l.syncMu.Lock()
				l.syncNowLocked()
				l.syncMu.Unlock()
			}
		}
	}
}

// close forces what was written to disk (unless the policy is SyncNever) and lets go of the
// directory.
func (l *segmentLog) close() error {
	if l.stopSyncer != nil {
		close(l.stopSyncer)
		<-l.syncerDone
	}
	var err error
	l.syncMu.Lock()
	if l.policy != SyncNever {
		err = l.syncNowLocked()
	}
	l.syncMu.Unlock()
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	l.closeFiles()
	return err
}

func (l *segmentLog) closeFiles() {
	for _, s := range l.segs {
		if s.f != nil {
			s.f.Close()
			s.f = nil
		}
	}
	if l.lock != nil {
		l.lock.Close()
		l.lock = nil
	}
}
