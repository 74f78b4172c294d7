package main

/*
#include "capi.h"
*/
import "C"

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// logSink takes a client's log records from core (on core's goroutines, sometimes under core's
// locks) and hands them to the C log callback on a goroutine of its own. Records are formatted
// and queued without blocking; when the callback falls behind they are dropped and counted.
type logSink struct {
	client  uint64
	minimum atomic.Int64 // slog level; records below it are discarded at once
	cb      atomic.Pointer[logCallback]
	ch      chan logLine
	started bool // guarded by the client's mu
	quit    chan struct{}
	quitOne sync.Once
	done    chan struct{}
	dropped atomic.Uint64

	// Warnings logged before a callback was ever installed (those of hamqtt_client_new, such
	// as disabled TLS verification, come before the caller can install one): kept, at most
	// maxEarly, and handed to the first callback installed whose level takes them.
	earlyMu sync.Mutex
	early   []logLine
	everSet atomic.Bool
}

const maxEarly = 32

type logCallback struct {
	fn   C.hamqtt_log_cb
	user unsafe.Pointer
}

type logLine struct {
	level int
	text  string
}

const logOff = int64(1 << 30)

func newLogSink() *logSink {
	s := &logSink{ch: make(chan logLine, 1024), quit: make(chan struct{}), done: make(chan struct{})}
	s.minimum.Store(logOff)
	return s
}

// set installs the callback (nil: logging off).
func (s *logSink) set(level int, fn C.hamqtt_log_cb, user unsafe.Pointer) {
	if fn == nil {
		s.minimum.Store(logOff)
		s.cb.Store(nil)
		return
	}
	s.cb.Store(&logCallback{fn: fn, user: user})
	min := int64(slogLevel(level))
	s.earlyMu.Lock()
	early := s.early
	s.early = nil
	s.everSet.Store(true)
	s.minimum.Store(min)
	for _, l := range early {
		if int64(slogLevel(l.level)) >= min {
			s.enqueue(l)
		}
	}
	s.earlyMu.Unlock()
}

// enqueue queues a line for the callback without blocking; a full queue drops it (counted).
func (s *logSink) enqueue(l logLine) {
	select {
	case s.ch <- l:
	default:
		s.dropped.Add(1)
	}
}

// keepEarly keeps a warning logged before any callback was installed; false when one was.
func (s *logSink) keepEarly(l logLine) bool {
	s.earlyMu.Lock()
	defer s.earlyMu.Unlock()
	if s.everSet.Load() {
		return false
	}
	if len(s.early) < maxEarly {
		s.early = append(s.early, l)
	}
	return true
}

// run delivers queued lines until stop.
func (s *logSink) run(wg *sync.WaitGroup) {
	defer wg.Done()
	defer close(s.done)
	var buf cbuf
	defer buf.free()
	for {
		select {
		case <-s.quit:
			return
		case l := <-s.ch:
			cb := s.cb.Load()
			if cb == nil {
				continue
			}
			if n := s.dropped.Swap(0); n > 0 {
				msg := fmt.Sprintf("hamqtt: %d log lines dropped (the log callback is too slow)", n)
				buf.reset(uintptr(len(msg) + 1))
				C.hqcapi_call_log(cb.fn, cb.user, C.hamqtt_client(s.client), C.int(40), buf.str(msg))
			}
			buf.reset(uintptr(len(l.text) + 1))
			C.hqcapi_call_log(cb.fn, cb.user, C.hamqtt_client(s.client), C.int(l.level), buf.str(l.text))
		}
	}
}

func (s *logSink) stop() {
	s.quitOne.Do(func() { close(s.quit) })
}

// slogLevel maps a hamqtt_log_level (Python logging numbers) to slog's scale.
func slogLevel(level int) slog.Level {
	switch {
	case level <= 10:
		return slog.LevelDebug
	case level <= 20:
		return slog.LevelInfo
	case level <= 30:
		return slog.LevelWarn
	case level <= 40:
		return slog.LevelError
	}
	return slog.Level(logOff)
}

func cLevel(l slog.Level) int {
	switch {
	case l < slog.LevelInfo:
		return 10
	case l < slog.LevelWarn:
		return 20
	case l < slog.LevelError:
		return 30
	}
	return 40
}

// logHandler is the slog.Handler core logs through.
type logHandler struct {
	sink   *logSink
	prefix string // preformatted attributes of WithAttrs
	group  string
}

func (h *logHandler) Enabled(_ context.Context, l slog.Level) bool {
	return int64(l) >= h.sink.minimum.Load() || (l >= slog.LevelWarn && !h.sink.everSet.Load())
}

func (h *logHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Time.Format(time.RFC3339Nano))
	b.WriteByte(' ')
	b.WriteString(r.Level.String())
	b.WriteByte(' ')
	b.WriteString(r.Message)
	b.WriteString(h.prefix)
	r.Attrs(func(a slog.Attr) bool {
		writeAttr(&b, h.group, a)
		return true
	})
	l := logLine{level: cLevel(r.Level), text: b.String()}
	if int64(r.Level) < h.sink.minimum.Load() {
		// Only a warning before any callback was installed gets here below the minimum: kept
		// for the first callback, unless one was installed meanwhile (then its level decides).
		if r.Level < slog.LevelWarn || h.sink.keepEarly(l) || int64(r.Level) < h.sink.minimum.Load() {
			return nil
		}
	}
	h.sink.enqueue(l)
	return nil
}

func writeAttr(b *strings.Builder, group string, a slog.Attr) {
	if a.Equal(slog.Attr{}) {
		return
	}
	key := a.Key
	if group != "" {
		key = group + "." + key
	}
	if a.Value.Kind() == slog.KindGroup {
		for _, g := range a.Value.Group() {
			writeAttr(b, key, g)
		}
		return
	}
	v := a.Value.Resolve().String()
	b.WriteByte(' ')
	b.WriteString(key)
	b.WriteByte('=')
	if strings.ContainsAny(v, " \t\"=") || v == "" {
		fmt.Fprintf(b, "%q", v)
	} else {
		b.WriteString(v)
	}
}

func (h *logHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	var b strings.Builder
	b.WriteString(h.prefix)
	for _, a := range attrs {
		writeAttr(&b, h.group, a)
	}
	return &logHandler{sink: h.sink, prefix: b.String(), group: h.group}
}

func (h *logHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	g := name
	if h.group != "" {
		g = h.group + "." + name
	}
	return &logHandler{sink: h.sink, prefix: h.prefix, group: g}
}
