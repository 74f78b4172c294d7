package core

import (
	"fmt"
	"sort"
	"strings"
	"sync"
)

// Hooks are what padogrid calls plugins: code that sees a cluster's traffic. Register them by
// name with RegisterPlugin and attach them to clusters with the configuration's pluginNames,
// or directly with Cluster.AddHooks. Every field is optional.
type Hooks struct {
	// BeforePublish runs on the publishing goroutine before a message is sent. It returns the
	// topic and payload to send, or ok=false to drop the message (the publish then succeeds
	// without sending anything). Hooks run in the order they were added, each seeing the
	// previous one's output.
	BeforePublish func(topic string, payload []byte) (newTopic string, newPayload []byte, ok bool)
	// AfterPublish runs after a publish completed, with the endpoints that took the message or
	// the error. It runs on the publishing goroutine (or the one completing an async publish):
	// keep it short.
	AfterPublish func(topic string, payload []byte, endpoints []string, err error)
	// OnMessage is a message connector: it receives every message the cluster delivers, on a
	// goroutine of its own (never on a network goroutine), before and independently of the
	// application's handlers or Poll.
	OnMessage func(Message)
}

var plugins = struct {
	sync.Mutex
	byName map[string]Hooks
}{byName: map[string]Hooks{}}

// RegisterPlugin makes hooks available under name for the configuration's pluginNames.
func RegisterPlugin(name string, h Hooks) error {
	if strings.TrimSpace(name) == "" {
		return fmt.Errorf("plugin name is empty")
	}
	plugins.Lock()
	defer plugins.Unlock()
	if _, dup := plugins.byName[name]; dup {
		return fmt.Errorf("plugin %q is already registered", name)
	}
	plugins.byName[name] = h
	return nil
}

// LookupPlugin returns the hooks registered under name.
func LookupPlugin(name string) (Hooks, bool) {
	plugins.Lock()
	defer plugins.Unlock()
	h, ok := plugins.byName[name]
	return h, ok
}

// RegisteredPlugins lists the registered plugin names, sorted.
func RegisteredPlugins() []string {
	plugins.Lock()
	defer plugins.Unlock()
	names := make([]string, 0, len(plugins.byName))
	for n := range plugins.byName {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// AddHooks attaches h to the cluster.
func (c *Cluster) AddHooks(h Hooks) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	c.hooks.Store(appendCopy(c.hooks.Load(), h))
	if h.OnMessage != nil {
		b := &bridge{source: c, deliver: func(m *Message) { h.OnMessage(*m) }, queue: newEventQueue()}
		old := c.subsSnap.Load()
		snap := *old
		snap.connectors = append(append([]*bridge(nil), old.connectors...), b)
		c.subsSnap.Store(&snap)
		c.startBridgeLocked(b)
	}
	return nil
}

func (c *Cluster) runBeforePublish(req *publishReq) error {
	for _, h := range deref(c.hooks.Load()) {
		if h.BeforePublish == nil {
			continue
		}
		topic, payload, ok := h.BeforePublish(req.topic, req.payload)
		if !ok {
			req.dropped = true
			return nil
		}
		if topic != req.topic {
			if err := ValidateTopic(topic); err != nil {
				return fmt.Errorf("publish: a BeforePublish hook returned a bad topic: %w", err)
			}
		}
		req.topic, req.payload = topic, payload
	}
	return nil
}

func (c *Cluster) afterPublish(req publishReq, eps []string, err error) {
	for _, h := range deref(c.hooks.Load()) {
		if h.AfterPublish != nil {
			h.AfterPublish(req.topic, req.payload, eps, err)
		}
	}
	if err == nil && c.outBridges.Load() != nil {
		c.tapPublished(req)
	}
}
