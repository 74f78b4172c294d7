package main

/*
#include <stdlib.h>
#include "capi.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"sync"
	"unsafe"

	"github.com/hamqtt/hamqtt/core"
)

// The loaded configuration (hamqtt_init_file / hamqtt_init_yaml): core's Clusters registry of
// its clusters, and the C client of each cluster, made on first request.
var registry struct {
	mu      sync.Mutex
	fc      *core.FileConfig
	reg     *core.Clusters
	sinks   map[string]*logSink // the log sink each configured cluster was created with
	clients map[string]*client
	used    map[string]bool // a client wrapped the registry's cluster once (closed with it)
}

func loadConfig(fc *core.FileConfig, err error) C.int {
	if err != nil {
		code := errConfig
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
			code = errIO
		}
		return fail(code, err)
	}
	registry.mu.Lock()
	defer registry.mu.Unlock()
	if registry.reg != nil {
		return fail(errState, newErr(errState, "a configuration (%s) is already loaded: call hamqtt_shutdown first", registry.fc.Source))
	}
	// Every cluster reports asynchronous publishes as events and logs through the C sink.
	sinks := map[string]*logSink{}
	for i, cfg := range fc.Clusters {
		logs := newLogSink()
		sinks[cfg.Name] = logs
		fc.Clusters[i] = prepareConfig(cfg, logs)
	}
	reg, err := core.NewClusters(fc)
	if err != nil {
		return fail(errConfig, err)
	}
	registry.fc, registry.reg, registry.sinks = fc, reg, sinks
	registry.clients = map[string]*client{}
	registry.used = map[string]bool{}
	return statusOK
}

// hostEnv looks a variable up in the host process's environment (the C library's environ),
// not in the copy the Go runtime took when the library was loaded: a Python program that sets
// os.environ, a Node program that sets process.env, or a C program that calls setenv before
// loading its configuration expects ${env:NAME} to see the value it set.
func hostEnv(name string) (string, bool) {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	v := C.getenv(cname)
	if v == nil {
		return "", false
	}
	return C.GoString(v), true
}

// loadOptions are the options every configuration the C API loads is read with.
func loadOptions() core.LoadOptions { return core.LoadOptions{Getenv: hostEnv} }

//export hamqtt_init_file
func hamqtt_init_file(path *C.hqcapi_cchar) (rc C.int) {
	defer guard(&rc)
	p, err := gostr(path, "hamqtt_init_file: path")
	if err != nil {
		return fail(errInvalid, err)
	}
	return loadConfig(core.LoadConfigFile(p, loadOptions()))
}

//export hamqtt_init_yaml
func hamqtt_init_yaml(yaml *C.hqcapi_cchar, n C.size_t) (rc C.int) {
	defer guard(&rc)
	if yaml == nil {
		return fail(errInvalid, newErr(errInvalid, "hamqtt_init_yaml: yaml is NULL"))
	}
	if n > 64<<20 {
		return fail(errInvalid, newErr(errInvalid, "hamqtt_init_yaml: %d bytes of YAML is more than the 64 MiB a configuration may have", uint64(n)))
	}
	text := C.GoBytes(unsafe.Pointer(yaml), C.int(n))
	return loadConfig(core.ParseConfig(text, "<hamqtt_init_yaml>", loadOptions()))
}

//export hamqtt_shutdown
func hamqtt_shutdown() (rc C.int) {
	defer guard(&rc)
	registry.mu.Lock()
	clients := make([]*client, 0, len(registry.clients))
	for _, cl := range registry.clients {
		if cl.inCallback() {
			registry.mu.Unlock()
			return fail(errBusy, newErr(errBusy, "hamqtt_shutdown: called from a callback of %s, which it would wait for", cl))
		}
		clients = append(clients, cl)
	}
	reg := registry.reg
	registry.fc, registry.reg, registry.sinks, registry.clients, registry.used = nil, nil, nil, nil, nil
	registry.mu.Unlock()
	for _, cl := range clients {
		if unregister(cl.id) {
			cl.close()
		}
	}
	if reg != nil {
		reg.Close()
	}
	return statusOK
}

//export hamqtt_cluster_client
func hamqtt_cluster_client(name *C.hqcapi_cchar, out *C.hamqtt_client) (rc C.int) {
	defer guard(&rc)
	if out == nil {
		return fail(errInvalid, newErr(errInvalid, "hamqtt_cluster_client: out is NULL"))
	}
	*out = 0
	cl, code, err := clusterClient(optstr(name))
	if err != nil {
		return fail(code, fmt.Errorf("hamqtt_cluster_client: %w", err))
	}
	*out = C.hamqtt_client(cl.id)
	return statusOK
}

// clusterClient returns the C client of the named cluster of the loaded configuration (""
// for the default cluster), making it on first request.
func clusterClient(n string) (*client, int, error) {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	reg := registry.reg
	if reg == nil {
		return nil, errNotInitialized, newErr(errNotInitialized, "no configuration loaded: call hamqtt_init_file or hamqtt_init_yaml first")
	}
	if n == "" {
		n = reg.DefaultName()
	}
	if cl := registry.clients[n]; cl != nil {
		return cl, statusOK, nil
	}
	var c *core.Cluster
	var err error
	if n == reg.DefaultName() {
		// padogrid's default cluster exists even when the file does not define it.
		if c = reg.Default(); c == nil {
			err = newErr(errNotFound, "the default cluster %q is disabled or closed", n)
		}
	} else {
		c, err = reg.Get(n)
	}
	if err != nil {
		return nil, errNotFound, fmt.Errorf("%s: %w", registry.fc.Source, err)
	}
	logs := registry.sinks[n]
	if logs == nil || registry.used[n] {
		// Not made from the file (the implicit default cluster) or closed by an earlier
		// hamqtt_close: a cluster of our own with the same configuration.
		logs = newLogSink()
		cfg := c.Config()
		cfg.Outbox = c.Outbox() // the registry's, which one cluster at a time uses
		if cfg.Outbox != nil && !registry.used[n] {
			c.Close() // the registry's own default cluster lets go of it
		}
		if c, err = core.New(prepareConfig(cfg, logs)); err != nil {
			return nil, errConfig, err
		}
	}
	cl := newClient(c.Config(), c, logs, true)
	generated := true
	for _, fcl := range registry.fc.Clusters {
		if fcl.Name == n {
			generated = fcl.Connection.ClientID == ""
		}
	}
	cl.mu.Lock()
	cl.generatedID = generated
	cl.mu.Unlock()
	if cl.ob != nil {
		if oc, err := registry.fc.OutboxFor(n); err == nil && oc != nil {
			cl.obQoS0 = oc.QoS0
		}
	}
	registry.clients[n] = cl
	registry.used[n] = true
	return cl, statusOK, nil
}

//export hamqtt_connect_all
func hamqtt_connect_all() (rc C.int) {
	defer guard(&rc)
	registry.mu.Lock()
	reg, fc := registry.reg, registry.fc
	registry.mu.Unlock()
	if reg == nil {
		return fail(errNotInitialized, newErr(errNotInitialized, "hamqtt_connect_all: no configuration loaded: call hamqtt_init_file or hamqtt_init_yaml first"))
	}
	var names []string
	for _, n := range reg.Names() {
		if set, ok := fc.Settings[n]; !ok || set.AutoConnect {
			names = append(names, n)
		}
	}
	errs := make([]error, len(names))
	codes := make([]int, len(names))
	var wg sync.WaitGroup
	for i, n := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl, code, err := clusterClient(n)
			if err == nil {
				code, err = errNoEndpoint, cl.connect()
			}
			if err != nil {
				codes[i], errs[i] = code, fmt.Errorf("cluster %q: %w", n, err)
			}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return fail(codes[i], fmt.Errorf("hamqtt_connect_all: %w", errors.Join(errs...)))
		}
	}
	return statusOK
}

// forgetRegistryClient drops a closed client from the registry so the next
// hamqtt_cluster_client makes a new one.
func forgetRegistryClient(cl *client) {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	if registry.clients[cl.name] == cl {
		delete(registry.clients, cl.name)
	}
}

//export hamqtt_cluster_names
func hamqtt_cluster_names(names ***C.char, count *C.size_t) (rc C.int) {
	defer guard(&rc)
	if names != nil {
		*names = nil
	}
	if count != nil {
		*count = 0
	}
	if names == nil {
		return fail(errInvalid, newErr(errInvalid, "hamqtt_cluster_names: names is NULL"))
	}
	registry.mu.Lock()
	reg := registry.reg
	registry.mu.Unlock()
	if reg == nil {
		return fail(errNotInitialized, newErr(errNotInitialized, "hamqtt_cluster_names: no configuration loaded: call hamqtt_init_file or hamqtt_init_yaml first"))
	}
	list := reg.Names()
	if i := slices.Index(list, reg.DefaultName()); i > 0 {
		list = append([]string{list[i]}, slices.Delete(list, i, i+1)...)
	}
	return returnList("hamqtt_cluster_names", list, names, count)
}
