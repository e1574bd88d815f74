// Package azurite starts and stops the Azurite storage emulator as a child
// process, for tests, the demo, benchmarks and the CLI.
//
// Design note. Azurite is pinned through npm (tools/azurite) and located by
// [FindExecutable]. [Start] runs it on loopback in its own process group,
// with in-memory data unless a location is given, and returns only once each
// of the blob, queue and table endpoints has answered an authenticated
// request made with the Azure SDK — readiness is observed, never assumed
// after a sleep. Free ports are chosen by binding port 0; if another process
// takes one before Azurite binds it, Start retries with new ports. Every
// failure carries the tail of Azurite's output, because "did not start" is
// useless without the reason node printed.
package azurite

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/azdurable/azdurable/storage"
)

// StartTimeout bounds how long Start waits for Azurite to answer on all
// three endpoints (unless its context ends earlier).
const StartTimeout = 3 * time.Minute

// stopTimeout is how long Stop waits after SIGTERM before SIGKILL. Azurite
// saves on-disk metadata on SIGTERM, so it is given a generous moment.
const stopTimeout = 10 * time.Second

// startAttempts bounds retries after a port collision on picked ports.
const startAttempts = 3

// Options configure [Start]. The zero value runs an in-memory Azurite on
// free loopback ports.
type Options struct {
	// Location is Azurite's data folder (--location), for example a restored
	// snapshot or the demo's .azurite; it is created if missing. Empty means
	// --inMemoryPersistence: nothing touches the disk and data ends with the
	// process.
	Location string
	// BlobPort, QueuePort and TablePort are the ports to listen on at
	// 127.0.0.1. Zero picks a free port.
	BlobPort, QueuePort, TablePort int
	// Loose passes --loose, which makes Azurite ignore headers and
	// parameters it does not support. --skipApiVersionCheck is always passed.
	Loose bool
	// Stdout and Stderr, if set, receive Azurite's output as it runs.
	// Either way the last 64 KiB are kept for error messages.
	Stdout, Stderr io.Writer
}

// Server is a running Azurite. Its methods are safe for concurrent use.
type Server struct {
	cmd       *exec.Cmd
	endpoints storage.Endpoints
	output    *tail

	done    chan struct{} // closed once the process has exited
	waitErr error         // cmd.Wait's result; read only after done is closed

	stopOnce sync.Once
	stopErr  error
}

// errPortInUse marks a startup failure caused by a port collision.
var errPortInUse = errors.New("port already in use")

// Start launches Azurite and returns once its blob, queue and table
// endpoints all accept requests, or fails with an error that includes the
// tail of Azurite's output: when the process exits early, when it does not
// come up within [StartTimeout], or when ctx ends first. ctx bounds startup
// only; the server runs until [Server.Stop].
func Start(ctx context.Context, opts Options) (*Server, error) {
	exe, err := FindExecutable()
	if err != nil {
		return nil, err
	}
	location := ""
	if opts.Location != "" {
		if location, err = filepath.Abs(opts.Location); err != nil {
			return nil, fmt.Errorf("azurite: location: %w", err)
		}
		if err := os.MkdirAll(location, 0o755); err != nil {
			return nil, fmt.Errorf("azurite: location: %w", err)
		}
	}
	picked := opts.BlobPort == 0 || opts.QueuePort == 0 || opts.TablePort == 0
	for attempt := 1; ; attempt++ {
		ports, err := choosePorts(opts.BlobPort, opts.QueuePort, opts.TablePort)
		if err != nil {
			return nil, err
		}
		s, err := start(ctx, exe, location, ports, opts)
		if err == nil {
			return s, nil
		}
		// Only ports we picked can be re-picked; a port the caller chose
		// stays taken however often we try.
		if !picked || !errors.Is(err, errPortInUse) || attempt == startAttempts {
			return nil, err
		}
	}
}

type ports struct{ blob, queue, table int }

// choosePorts fills zero ports with free ones. All listeners stay open until
// the three are chosen, so the picks are distinct.
func choosePorts(blob, queue, table int) (ports, error) {
	p := ports{blob, queue, table}
	var open []net.Listener
	defer func() {
		for _, l := range open {
			l.Close()
		}
	}()
	for _, port := range []*int{&p.blob, &p.queue, &p.table} {
		if *port != 0 {
			continue
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return ports{}, fmt.Errorf("azurite: pick a free port: %w", err)
		}
		open = append(open, l)
		*port = l.Addr().(*net.TCPAddr).Port
	}
	return p, nil
}

func start(ctx context.Context, exe, location string, p ports, opts Options) (*Server, error) {
	args := []string{
		"--silent", "--skipApiVersionCheck", "--disableTelemetry",
		"--blobHost", "127.0.0.1", "--blobPort", strconv.Itoa(p.blob),
		"--queueHost", "127.0.0.1", "--queuePort", strconv.Itoa(p.queue),
		"--tableHost", "127.0.0.1", "--tablePort", strconv.Itoa(p.table),
	}
	if location == "" {
		args = append(args, "--inMemoryPersistence")
	} else {
		args = append(args, "--location", location)
	}
	if opts.Loose {
		args = append(args, "--loose")
	}

	out := &tail{}
	cmd := exec.Command(exe, args...)
	// Azurite writes nothing to its working directory in these modes, but
	// if a version ever does, it must not land in the caller's checkout.
	cmd.Dir = location
	if cmd.Dir == "" {
		cmd.Dir = os.TempDir()
	}
	cmd.Stdout = teeTo(out, opts.Stdout)
	cmd.Stderr = teeTo(out, opts.Stderr)
	// If node ever hands its pipes to a grandchild, Wait must still return.
	cmd.WaitDelay = 5 * time.Second
	ownProcessGroup(cmd)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("azurite: start %s: %w", exe, err)
	}

	base := "http://127.0.0.1:"
	s := &Server{
		cmd: cmd,
		endpoints: storage.Endpoints{
			Blob:  base + strconv.Itoa(p.blob) + "/" + storage.DevelopmentAccountName,
			Queue: base + strconv.Itoa(p.queue) + "/" + storage.DevelopmentAccountName,
			Table: base + strconv.Itoa(p.table) + "/" + storage.DevelopmentAccountName,
		},
		output: out,
		done:   make(chan struct{}),
	}
	go func() {
		s.waitErr = cmd.Wait()
		close(s.done)
	}()

	if err := s.waitReady(ctx); err != nil {
		_ = s.Stop()
		return nil, err
	}
	return s, nil
}

func teeTo(t *tail, w io.Writer) io.Writer {
	if w == nil {
		return t
	}
	return io.MultiWriter(t, w)
}

// waitReady polls the three endpoints with real SDK calls until each has
// answered once, backing off from 20 ms to 250 ms between rounds.
func (s *Server) waitReady(parent context.Context) error {
	ctx, cancel := context.WithTimeout(parent, StartTimeout)
	defer cancel()

	probes, err := s.probes()
	if err != nil {
		return err
	}
	delay := 20 * time.Millisecond
	timer := time.NewTimer(0)
	defer timer.Stop()
	var lastErr error
	for {
		select {
		case <-s.done:
			err := fmt.Errorf("azurite: exited during startup (%v)", s.waitErr)
			if strings.Contains(s.output.String(), "EADDRINUSE") {
				err = fmt.Errorf("%w: %w", err, errPortInUse)
			}
			return s.withOutput(err)
		case <-ctx.Done():
			if parent.Err() != nil {
				return s.withOutput(fmt.Errorf("azurite: startup abandoned (last probe error: %v): %w", lastErr, parent.Err()))
			}
			return s.withOutput(fmt.Errorf("azurite: endpoints did not answer within %v (last probe error: %v)", StartTimeout, lastErr))
		case <-timer.C:
		}
		for name, probe := range probes {
			if err := probe(ctx); err != nil {
				lastErr = fmt.Errorf("%s: %w", name, err)
				continue
			}
			delete(probes, name)
		}
		if len(probes) == 0 {
			break
		}
		timer.Reset(delay)
		delay = min(2*delay, 250*time.Millisecond)
	}
	// Answers could have come from another process on a colliding port
	// while ours was failing to bind; a process that already exited says so.
	select {
	case <-s.done:
		return s.withOutput(fmt.Errorf("azurite: exited during startup (%v): %w", s.waitErr, errPortInUse))
	default:
		return nil
	}
}

// probes returns one SDK call per service. Each request gets a single short
// try: the loop in waitReady is the retry policy.
func (s *Server) probes() (map[string]func(context.Context) error, error) {
	acct, err := storage.ParseConnectionString(s.ConnectionString())
	if err != nil {
		return nil, fmt.Errorf("azurite: %w", err)
	}
	opts := &storage.ClientOptions{Retry: &policy.RetryOptions{MaxRetries: -1, TryTimeout: 2 * time.Second}}
	q, err := acct.QueueService(opts)
	if err != nil {
		return nil, fmt.Errorf("azurite: %w", err)
	}
	t, err := acct.TableService(opts)
	if err != nil {
		return nil, fmt.Errorf("azurite: %w", err)
	}
	b, err := acct.BlobService(opts)
	if err != nil {
		return nil, fmt.Errorf("azurite: %w", err)
	}
	one := int32(1)
	return map[string]func(context.Context) error{
		"queue": func(ctx context.Context) error {
			_, err := q.GetServiceProperties(ctx, nil)
			return err
		},
		"table": func(ctx context.Context) error {
			_, err := t.NewListTablesPager(&aztables.ListTablesOptions{Top: &one}).NextPage(ctx)
			return err
		},
		"blob": func(ctx context.Context) error {
			_, err := b.ServiceClient().GetProperties(ctx, nil)
			return err
		},
	}, nil
}

func (s *Server) withOutput(err error) error {
	out := strings.TrimSpace(s.output.String())
	if out == "" {
		out = "(no output)"
	}
	return fmt.Errorf("%w\nazurite output (last %d KiB at most):\n%s", err, tailSize>>10, out)
}

// ConnectionString returns a full connection string for the server: the
// well-known development account and key with explicit endpoints
// http://127.0.0.1:PORT/devstoreaccount1.
func (s *Server) ConnectionString() string {
	return storage.DevelopmentConnectionString(s.endpoints.Blob, s.endpoints.Queue, s.endpoints.Table)
}

// Endpoints returns the server's blob, queue and table URLs.
func (s *Server) Endpoints() storage.Endpoints { return s.endpoints }

// Done is closed when the Azurite process has exited, whether through Stop
// or on its own.
func (s *Server) Done() <-chan struct{} { return s.done }

// Stop terminates Azurite's process group (SIGTERM, then SIGKILL after 10 s)
// and waits for it to exit. It returns nil for an exit it caused, and an
// error with Azurite's output if the process had already exited on its
// own. Calling Stop again returns the first result.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		select {
		case <-s.done:
			s.stopErr = s.withOutput(fmt.Errorf("azurite: exited before Stop (%v)", s.waitErr))
			return
		default:
		}
		if err := terminate(s.cmd); err != nil {
			s.stopErr = fmt.Errorf("azurite: terminate: %w", err)
		}
		end := time.Now().Add(stopTimeout)
		deadline := time.NewTimer(stopTimeout)
		defer deadline.Stop()
		select {
		case <-s.done:
		case <-deadline.C:
			_ = kill(s.cmd)
			<-s.done
		}
		// A wrapper script may exit before the node it started has saved
		// its data; give the rest of the group what is left of the deadline.
		if !waitGroupGone(s.cmd, max(time.Until(end), time.Second)) {
			_ = kill(s.cmd)
		}
	})
	return s.stopErr
}
