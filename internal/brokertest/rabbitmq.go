package brokertest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const (
	// rabbitStartTimeout bounds a RabbitMQ start: on two idle cores a first boot takes
	// 9-15 s (3-6 s of it the MQTT plugin waiting for peers before it elects itself), a start
	// from the template or a restart 3.5-5 s; a loaded machine takes twice as long.
	rabbitStartTimeout = 90 * time.Second
	rabbitStopGrace    = 20 * time.Second
)

// RabbitMQOptions configures a node started by NewRabbitMQ.
type RabbitMQOptions struct {
	// Dir holds the node's configuration, database (mnesia), logs and Erlang cookie. Empty
	// means a new temporary directory that Close removes.
	Dir string
	// Port is the MQTT listener's loopback port; 0 picks a free one.
	Port int
	// ExtraConfig is appended to the generated rabbitmq.conf (sysctl format).
	ExtraConfig string
}

// RabbitMQBroker is a private RabbitMQ node with only the MQTT plugin enabled, listening for
// MQTT on 127.0.0.1 and nothing else (no AMQP listener). It runs as the current user with
// everything in its own directory, an Erlang port mapper daemon (epmd) of its own on a free
// loopback port, and its Erlang distribution on another, so several nodes and a system
// RabbitMQ never meet. It survives SIGKILL: Restart starts it again on the same ports with the
// same database, as a supervisor would after a crash.
type RabbitMQBroker struct {
	supervisor      // its port is the MQTT one
	server, epmdBin string
	extra           string
	distPort        int // Erlang distribution
	epmdPort        int
	node            string
	epmd            *process
}

// errRabbitPortBusy marks a launch that could not bind one of its ports.
var errRabbitPortBusy = errors.New("rabbitmq could not bind a port")

// RabbitMQServerPath locates the rabbitmq-server script that runs the node as the calling
// user: $HAMQTT_RABBITMQ_SERVER if set, else Debian's /usr/lib/rabbitmq/bin/rabbitmq-server.
// (Debian's /usr/sbin/rabbitmq-server is a wrapper that switches to the rabbitmq user.)
func RabbitMQServerPath() (string, error) {
	if p := os.Getenv("HAMQTT_RABBITMQ_SERVER"); p != "" {
		if _, err := exec.LookPath(p); err != nil {
			return "", fmt.Errorf("brokertest: $HAMQTT_RABBITMQ_SERVER=%q is not an executable: %w", p, err)
		}
		return p, nil
	}
	cands := []string{"/usr/lib/rabbitmq/bin/rabbitmq-server"}
	if m, _ := filepath.Glob("/usr/lib/rabbitmq/lib/rabbitmq_server-*/sbin/rabbitmq-server"); len(m) > 0 {
		cands = append(cands, m[len(m)-1])
	}
	for _, p := range cands {
		if _, err := exec.LookPath(p); err == nil {
			return p, nil
		}
	}
	return "", errors.New("brokertest: RabbitMQ not found ($HAMQTT_RABBITMQ_SERVER, /usr/lib/rabbitmq/bin/rabbitmq-server); run scripts/install-deps.sh")
}

// rabbitNode is every test node's Erlang node name. Each node has an epmd of its own, so the
// names never meet, and one name lets a node start from a copy of another's database (see
// seedFromTemplate).
const rabbitNode = "hamqtt@localhost"

// NewRabbitMQ starts a node and returns once its MQTT listener accepts connections. The caller
// must Close it.
//
// A new node's database is a copy of a template: a node booted once per machine, RabbitMQ
// version and user (in the temporary directory, made by the first test process that needs it,
// the others waiting on a lock) and stopped cleanly. That makes a start as quick as a restart
// (3.5-5 s) instead of a first boot's 9-15 s, 3-6 s of which the MQTT plugin spends waiting for
// cluster peers. $HAMQTT_RABBITMQ_NO_TEMPLATE=1 boots every node from scratch.
func NewRabbitMQ(opts RabbitMQOptions) (*RabbitMQBroker, error) {
	return newRabbitMQ(opts, os.Getenv("HAMQTT_RABBITMQ_NO_TEMPLATE") == "")
}

func newRabbitMQ(opts RabbitMQOptions, useTemplate bool) (*RabbitMQBroker, error) {
	server, err := RabbitMQServerPath()
	if err != nil {
		return nil, err
	}
	epmd, err := exec.LookPath("epmd")
	if err != nil {
		return nil, errors.New("brokertest: epmd (Erlang) not found on PATH; run scripts/install-deps.sh")
	}
	b := &RabbitMQBroker{supervisor: supervisor{dir: opts.Dir, port: opts.Port}, server: server, epmdBin: epmd, extra: opts.ExtraConfig}
	if err := b.makeDir("hamqtt-rabbitmq-"); err != nil {
		return nil, err
	}
	seeded := false
	if _, statErr := os.Stat(filepath.Join(b.dir, "mnesia")); useTemplate && os.IsNotExist(statErr) {
		// Without a template the node boots from scratch, only slower.
		seeded = seedFromTemplate(server, b.dir) == nil
	}
	// Every try runs on new ports (the MQTT one too unless it was given), with an epmd of
	// its own: a previous try's goes first.
	launchOnNewPorts := func(deadline time.Time) error {
		killGroup(b.epmd)
		b.epmd = nil
		if err := b.pickPorts(opts.Port == 0); err != nil {
			return err
		}
		if err := b.startEpmd(); err != nil {
			return err
		}
		return b.launch(deadline)
	}
	deadline := time.Now().Add(rabbitStartTimeout)
	if opts.Port != 0 {
		err = launchOnNewPorts(deadline)
	} else {
		// Lost a race for a picked port: everything again on new ports.
		err = retryWhileBusy(deadline, errRabbitPortBusy, 0, launchOnNewPorts)
	}
	if err != nil && seeded {
		// A template that does not boot is dropped (the next node makes a new one), and this
		// node boots from scratch.
		dropTemplate(server)
		os.RemoveAll(filepath.Join(b.dir, "mnesia"))
		os.Remove(filepath.Join(b.dir, "feature_flags"))
		err = launchOnNewPorts(time.Now().Add(rabbitStartTimeout))
	}
	if err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

// templateDir is where the template database for the given rabbitmq-server lives: one per
// RabbitMQ installation (the versioned directory the script resolves to) and user.
func templateDir(server string) string {
	key := server
	if real, err := filepath.EvalSymlinks(server); err == nil {
		key = real
	}
	name := unsafeFileChars.ReplaceAllString(filepath.Base(filepath.Dir(filepath.Dir(key))), "_")
	return filepath.Join(os.TempDir(), fmt.Sprintf("hamqtt-brokertest-%d", os.Getuid()), "rabbitmq-template-v1-"+name)
}

var unsafeFileChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// lockTemplate takes the template's lock (an flock, released when the process ends too).
func lockTemplate(dir string) (unlock func(), err error) {
	if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(dir+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// seedFromTemplate copies the template's database and feature flags into dir, making the
// template first if there is none.
func seedFromTemplate(server, dir string) error {
	tdir := templateDir(server)
	unlock, err := lockTemplate(tdir)
	if err != nil {
		return err
	}
	defer unlock()
	if _, err := os.Stat(filepath.Join(tdir, "complete")); err != nil {
		if err := makeTemplate(server, tdir); err != nil {
			return err
		}
	}
	if err := copyTree(filepath.Join(tdir, "mnesia"), filepath.Join(dir, "mnesia")); err != nil {
		os.RemoveAll(filepath.Join(dir, "mnesia"))
		return err
	}
	if err := relocate(filepath.Join(dir, "mnesia"), tdir, dir); err != nil {
		os.RemoveAll(filepath.Join(dir, "mnesia"))
		return err
	}
	return copyTree(filepath.Join(tdir, "feature_flags"), filepath.Join(dir, "feature_flags"))
}

// relocate points a copied database at its new directory: the Raft members' "config" files
// (Erlang terms in text) name their data directory in full. Any other file naming the old
// directory is an error, since it could not be rewritten safely.
func relocate(db, from, to string) error {
	absFrom, err := filepath.Abs(from)
	if err != nil {
		return err
	}
	absTo, err := filepath.Abs(to)
	if err != nil {
		return err
	}
	return filepath.WalkDir(db, func(path string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil || !strings.Contains(string(data), absFrom) {
			return err
		}
		if d.Name() != "config" || strings.ContainsAny(absTo, "\\\"") {
			return fmt.Errorf("brokertest: %s names the template directory", path)
		}
		return os.WriteFile(path, []byte(strings.ReplaceAll(string(data), absFrom, absTo)), 0o644)
	})
}

// makeTemplate boots a node from scratch in tdir and stops it cleanly, so that its database
// holds everything a first boot writes (the MQTT plugin's Raft member included).
func makeTemplate(server, tdir string) error {
	os.RemoveAll(tdir)
	n, err := newRabbitMQ(RabbitMQOptions{Dir: tdir}, false)
	if err != nil {
		return err
	}
	defer n.Close() // the directory was given, so it stays
	n.mu.Lock()
	p := n.proc.Load()
	err = terminate(p, rabbitStopGrace)
	n.mu.Unlock()
	if err == nil && !p.cmd.ProcessState.Success() {
		err = fmt.Errorf("the template node did not stop cleanly (%s)", p.cmd.ProcessState)
	}
	if err != nil {
		os.RemoveAll(tdir)
		return fmt.Errorf("brokertest: RabbitMQ template: %w", err)
	}
	return os.WriteFile(filepath.Join(tdir, "complete"), nil, 0o644)
}

// dropTemplate removes the template of server.
func dropTemplate(server string) {
	tdir := templateDir(server)
	if unlock, err := lockTemplate(tdir); err == nil {
		os.RemoveAll(tdir)
		unlock()
	}
}

// copyTree copies the file or directory src to dst, keeping modes.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.MkdirAll(target, info.Mode().Perm())
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, info.Mode().Perm())
	})
}

// pickPorts chooses the free ports (the MQTT one too unless it was given) and the node name.
func (b *RabbitMQBroker) pickPorts(mqtt bool) error {
	var err error
	if mqtt {
		if b.port, err = FreePort(); err != nil {
			return err
		}
	}
	if b.distPort, err = FreePort(); err != nil {
		return err
	}
	if b.epmdPort, err = FreePort(); err != nil {
		return err
	}
	b.node = rabbitNode
	return nil
}

// startEpmd runs the node's own port mapper on 127.0.0.1:epmdPort and waits until it listens.
func (b *RabbitMQBroker) startEpmd() error {
	cmd := exec.Command(b.epmdBin, "-port", strconv.Itoa(b.epmdPort), "-address", "127.0.0.1")
	cmd.Dir = b.dir
	cmd.Env = b.env()
	out, err := os.OpenFile(filepath.Join(b.dir, "epmd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("brokertest: %w", err)
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	p, err := startProcess(cmd)
	if err != nil {
		return fmt.Errorf("brokertest: start epmd: %w", err)
	}
	b.epmd = p
	deadline := time.Now().Add(startTimeout)
	addr := loopback(b.epmdPort)
	for {
		if p.exited() {
			// epmd exits at once when its port is taken.
			return fmt.Errorf("brokertest: epmd on port %d: %w (%s)", b.epmdPort, errRabbitPortBusy, p.cmd.ProcessState)
		}
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			return c.Close()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("brokertest: epmd on port %d not ready: %w", b.epmdPort, err)
		}
		time.Sleep(pollInterval)
	}
}

// env is the environment of the node and its epmd: the caller's, less anything that would
// point RabbitMQ or Erlang elsewhere, plus the node's private settings.
func (b *RabbitMQBroker) env() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "RABBITMQ_") || strings.HasPrefix(kv, "ERL_") || strings.HasPrefix(kv, "HOME=") {
			continue
		}
		env = append(env, kv)
	}
	d := func(name string) string { return filepath.Join(b.dir, name) }
	return append(env,
		"HOME="+b.dir, // the Erlang cookie goes here
		"ERL_EPMD_PORT="+strconv.Itoa(b.epmdPort),
		"ERL_EPMD_ADDRESS=127.0.0.1",
		"RABBITMQ_NODENAME="+b.node,
		"RABBITMQ_USE_LONGNAME=false",
		"RABBITMQ_DIST_PORT="+strconv.Itoa(b.distPort),
		"RABBITMQ_CONFIG_FILE="+d("rabbitmq.conf"),
		"RABBITMQ_ADVANCED_CONFIG_FILE="+d("advanced.config"), // absent: not /etc's
		"RABBITMQ_CONF_ENV_FILE="+d("rabbitmq-env.conf"),      // absent: not /etc's
		"RABBITMQ_ENABLED_PLUGINS_FILE="+d("enabled_plugins"),
		"RABBITMQ_FEATURE_FLAGS_FILE="+d("feature_flags"),
		"RABBITMQ_MNESIA_BASE="+d("mnesia"),
		"RABBITMQ_LOG_BASE="+d("log"),
		"RABBITMQ_LOGS="+d("rabbitmq.log"),
		"RABBITMQ_PID_FILE="+d("rabbitmq.pid"),
		// The script then execs the Erlang VM instead of running it as a child, so SIGKILL
		// reaches the VM itself; -noinput keeps the VM's shell off stdin all the same.
		"RABBITMQ_ALLOW_INPUT=true",
		"RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=-noinput -kernel inet_dist_use_interface {127,0,0,1}",
	)
}

func (b *RabbitMQBroker) config() string {
	var s strings.Builder
	s.WriteString("# generated by brokertest\n")
	s.WriteString("listeners.tcp = none\n")
	fmt.Fprintf(&s, "mqtt.listeners.tcp.default = 127.0.0.1:%d\n", b.port)
	s.WriteString("mqtt.allow_anonymous = true\n")
	s.WriteString("loopback_users = none\n")
	// Tests must not stall on a disk alarm when the machine's disk is nearly full.
	s.WriteString("disk_free_limit.absolute = 1MB\n")
	s.WriteString("log.file.level = info\nlog.console = false\n")
	if b.extra != "" {
		s.WriteString(b.extra + "\n")
	}
	return s.String()
}

// Kind returns RabbitMQ.
func (b *RabbitMQBroker) Kind() Kind { return RabbitMQ }

var rabbitVersion = regexp.MustCompile(`Starting RabbitMQ (\S+ on Erlang \S+)`)

// Version returns what the node logged when it last started: "3.10.8 (Erlang 25.2.3)".
func (b *RabbitMQBroker) Version() string {
	v := lastMatch(rabbitVersion, b.Log())
	if rmq, erl, ok := strings.Cut(v, " on Erlang "); ok {
		return rmq + " (Erlang " + erl + ")"
	}
	return v
}

// Node returns the Erlang node name ("hamqtt@localhost", registered with the node's own epmd:
// rabbitmqctl reaches it with ERL_EPMD_PORT set to that epmd's port and HOME to Dir).
func (b *RabbitMQBroker) Node() string { return b.node }

// Dir returns the directory holding the node's configuration, database and logs.
func (b *RabbitMQBroker) Dir() string { return b.dir }

// Port returns the MQTT port, which stays the same across Restart.
func (b *RabbitMQBroker) Port() int { return b.port }

// Addr returns "127.0.0.1:PORT".
func (b *RabbitMQBroker) Addr() string { return loopback(b.port) }

// URI returns "tcp://127.0.0.1:PORT".
func (b *RabbitMQBroker) URI() string { return "tcp://" + b.Addr() }

// Running reports whether the node's Erlang VM is alive.
func (b *RabbitMQBroker) Running() bool { return b.running() }

// Kill SIGKILLs the Erlang VM (and its helper processes) and returns once it is gone. Its
// epmd stays up, as the machine's would; it forgets the node when the VM's connection drops.
func (b *RabbitMQBroker) Kill() error { return b.kill() }

// Stop shuts the node down gracefully (SIGTERM, which RabbitMQ handles as a stop), falling back
// to SIGKILL after 20s.
func (b *RabbitMQBroker) Stop() error { return b.stop(rabbitStopGrace) }

// Restart starts the node again on the same ports with the same database, killing it first if
// it runs, and returns once MQTT accepts connections (5-7 s). Retained messages survive (they
// are kept on disk); MQTT sessions with clean session set do not.
func (b *RabbitMQBroker) Restart() error {
	return b.restart("RabbitMQ node", func() error {
		if b.epmd == nil || b.epmd.exited() {
			if err := b.startEpmd(); err != nil {
				return err
			}
		}
		return retryWhileBusy(time.Now().Add(rabbitStartTimeout), errRabbitPortBusy, 200*time.Millisecond, b.launch)
	})
}

func (b *RabbitMQBroker) logPath() string { return filepath.Join(b.dir, "rabbitmq.log") }
func (b *RabbitMQBroker) outPath() string { return filepath.Join(b.dir, "stdout.log") }

// Log returns the node's log file (every run, appended).
func (b *RabbitMQBroker) Log() string {
	data, _ := os.ReadFile(b.logPath())
	return string(data)
}

// Close kills the node and its epmd, and removes the directory if NewRabbitMQ created it.
// Idempotent.
func (b *RabbitMQBroker) Close() error {
	return b.close(func() error { return killGroup(b.epmd) })
}

// awaitDurableClientIDTracker waits (until deadline at most) for the MQTT plugin's Raft server,
// which tracks client IDs, to be registered on disk. The node writes the registration about a
// second after it is ready; until then a SIGKILL forgets it, and the next start waits 3-6 s for
// cluster peers before it elects itself again, where a restart otherwise takes 3.5-5 s.
func (b *RabbitMQBroker) awaitDurableClientIDTracker(deadline time.Time) {
	dir := filepath.Join(b.dir, "mnesia", b.node, "coordination", b.node)
	for {
		names, _ := os.ReadFile(filepath.Join(dir, "names.dets"))
		servers, _ := filepath.Glob(filepath.Join(dir, "MQTT_*"))
		for _, s := range servers {
			if strings.Contains(string(names), filepath.Base(s)) {
				return
			}
		}
		if time.Now().After(deadline) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// launch writes the configuration, starts the node and waits until it has logged that its
// startup is complete and its MQTT port accepts a connection. Callers hold b.mu (or own b
// exclusively).
func (b *RabbitMQBroker) launch(deadline time.Time) error {
	files := map[string]string{
		"rabbitmq.conf":   b.config(),
		"enabled_plugins": "[rabbitmq_mqtt].\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(b.dir, name), []byte(content), 0o644); err != nil {
			return fmt.Errorf("brokertest: %w", err)
		}
	}
	out, outStart, err := appendLog(b.outPath())
	if err != nil {
		return err
	}
	defer out.Close()
	logStart := fileSize(b.logPath())
	cmd := exec.Command(b.server)
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = b.dir, b.env(), out, out
	p, err := startProcess(cmd)
	if err != nil {
		return fmt.Errorf("brokertest: start %s: %w", b.server, err)
	}
	b.proc.Store(p)
	failed := func(why error) error {
		return fmt.Errorf("brokertest: RabbitMQ node %s (MQTT port %d): %w; output:\n%s\nlog tail:\n%s",
			b.node, b.port, why, tail(readFrom(b.outPath(), outStart), 15), tail(readFrom(b.logPath(), logStart), 20))
	}
	return awaitServing(p, deadline, readiness{
		addr:      b.Addr(),
		logged:    func() bool { return strings.Contains(readFrom(b.logPath(), logStart), "Server startup complete") },
		notLogged: `no "Server startup complete" in the log yet`,
		exited: func() error {
			why := fmt.Errorf("exited during startup (%s)", p.cmd.ProcessState)
			output := readFrom(b.outPath(), outStart) + readFrom(b.logPath(), logStart)
			if strings.Contains(output, "eaddrinuse") || strings.Contains(output, "seems to be in use by another Erlang node") {
				why = fmt.Errorf("%w: %v", errRabbitPortBusy, why)
			}
			return failed(why)
		},
		timedOut: func(last error) error {
			return failed(fmt.Errorf("not ready within %v: %w", rabbitStartTimeout, last))
		},
		pause:      50 * time.Millisecond,
		onceServed: func() { b.awaitDurableClientIDTracker(time.Now().Add(5 * time.Second)) },
	})
}
