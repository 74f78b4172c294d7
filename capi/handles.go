package main

import (
	"fmt"
	"sync"
	"sync/atomic"
)

// The handle table maps the ids C holds to clients. Ids count up from 1 and are never reused,
// so a stale or double-closed handle is recognised instead of reaching another client. Lookups
// are lock-free (a copy-on-write map); creating and closing clients copy it, which is rare.
var (
	tableMu sync.Mutex
	table   atomic.Pointer[map[uint64]*client]
	lastID  atomic.Uint64
)

func init() {
	table.Store(&map[uint64]*client{})
}

// register gives cl a new id and makes it reachable.
func register(cl *client) uint64 {
	tableMu.Lock()
	defer tableMu.Unlock()
	id := lastID.Add(1)
	cl.id = id
	old := *table.Load()
	m := make(map[uint64]*client, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	m[id] = cl
	table.Store(&m)
	return id
}

// unregister removes id; it reports false if id was not registered (already closed).
func unregister(id uint64) bool {
	tableMu.Lock()
	defer tableMu.Unlock()
	old := *table.Load()
	if _, ok := old[id]; !ok {
		return false
	}
	m := make(map[uint64]*client, len(old))
	for k, v := range old {
		if k != id {
			m[k] = v
		}
	}
	table.Store(&m)
	return true
}

// lookup returns the client of id or an errHandle error that says what is wrong with it.
func lookup(id uint64) (*client, error) {
	if cl := (*table.Load())[id]; cl != nil {
		return cl, nil
	}
	switch {
	case id == 0:
		return nil, newErr(errHandle, "invalid client handle 0 (0 is never a valid handle; did hamqtt_client_new fail?)")
	case id <= lastID.Load():
		return nil, newErr(errHandle, "client handle %d is closed (stale or closed twice)", id)
	default:
		return nil, newErr(errHandle, "client handle %d was never issued", id)
	}
}

func (cl *client) String() string { return fmt.Sprintf("client %d (%s)", cl.id, cl.name) }
