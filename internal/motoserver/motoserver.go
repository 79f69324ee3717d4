// Package motoserver starts and stops moto_server, the AWS emulator the local
// stack and the integration tests talk to through the real SDK clients.
package motoserver

import (
	"bytes"
	"compress/gzip"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Server is a running moto_server process.
type Server struct {
	// Endpoint is the base URL clients use, e.g. http://127.0.0.1:4577.
	Endpoint string
	// direct is moto itself, behind any serializing proxy.
	direct string
	cmd    *exec.Cmd
	done   chan error
	proxy  *http.Server
	// Meter counts requests through the serializing proxy.
	Meter Meter
	// mu serializes requests to moto; tap is read under it.
	mu  sync.Mutex
	tap Tap
}

// Options tune Start.
type Options struct {
	// Addr is host:port to listen on; empty picks a free port on 127.0.0.1.
	Addr string
	// RecordingFile, when set, makes moto record every request to this file so
	// state can be restored by Replay after a restart.
	RecordingFile string
	// Log receives moto's own output; nil discards it.
	Log *os.File
	// Serialize puts a proxy in front of moto that passes one request at a
	// time. moto's threaded server does not isolate concurrent requests
	// (two transactions adding to one item can lose an update), where
	// DynamoDB serializes writes to an item; serialized, moto behaves like
	// DynamoDB for concurrency tests. Endpoint is then the proxy's address.
	Serialize bool
}

// Tap sees a JSON-protocol request (its X-Amz-Target, e.g.
// "AWSEvents.PutEvents") with moto's answer, before the caller gets it.
type Tap func(target string, request, response []byte, status int)

// SetTap installs tap on a serialized server: the local stack delivers
// bus events this way, as EventBridge's rules would.
func (s *Server) SetTap(tap Tap) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tap = tap
}

//go:embed launch.py
var launchScript string

// ErrNotInstalled is returned when no moto_server is on PATH.
var ErrNotInstalled = errors.New("moto_server not found on PATH: install it with `pip install 'moto[server]'`")

// Start launches moto_server and waits until it answers.
func Start(ctx context.Context, opt Options) (*Server, error) {
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		return nil, ErrNotInstalled
	}
	addr := opt.Addr
	if addr == "" {
		addr, err = freeAddr()
		if err != nil {
			return nil, err
		}
	} else if err := portFree(addr); err != nil {
		// Never attach to someone else's emulator: two stacks would read
		// and change each other's data.
		return nil, err
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("moto address %q: %w", addr, err)
	}
	cmd := exec.Command(bin, "-H", host, "-p", port)
	if py, err := exec.LookPath("python3"); err == nil {
		// launch.py runs the same moto with its transaction backup made
		// proportional to the transaction rather than to the table; it
		// falls back to moto_server itself when python3 is not moto's.
		cmd = exec.Command(py, "-c", launchScript, "-H", host, "-p", port)
	}
	cmd.Env = os.Environ()
	if opt.RecordingFile != "" {
		cmd.Env = append(cmd.Env, "MOTO_ENABLE_RECORDING=true", "MOTO_RECORDER_FILEPATH="+opt.RecordingFile)
	}
	if opt.Log != nil {
		cmd.Stdout, cmd.Stderr = opt.Log, opt.Log
	}
	// Own process group so a stop also ends moto's children.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start moto_server: %w", err)
	}
	s := &Server{Endpoint: "http://" + addr, direct: "http://" + addr, cmd: cmd, done: make(chan error, 1)}
	go func() { s.done <- cmd.Wait() }()
	if err := s.waitReady(ctx, 60*time.Second); err != nil {
		s.Stop()
		return nil, err
	}
	if opt.Serialize {
		if err := s.serialize(); err != nil {
			s.Stop()
			return nil, err
		}
	}
	return s, nil
}

func (s *Server) serialize() error {
	target, err := url.Parse(s.Endpoint)
	if err != nil {
		return err
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	// The proxy holds every other request while one is at moto: an answer
	// that never comes must end as an error (502), not hold them all.
	rp.Transport = &http.Transport{Proxy: nil, ResponseHeaderTimeout: upstreamTimeout, MaxIdleConnsPerHost: 4}
	rp.ModifyResponse = func(resp *http.Response) error {
		req, ok := resp.Request.Context().Value(tappedKey{}).(*tapped)
		if !ok {
			return nil
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return fmt.Errorf("read moto's answer to %s: %w", req.target, err)
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
		plain := body
		if resp.Header.Get("Content-Encoding") == "gzip" {
			if zr, err := gzip.NewReader(bytes.NewReader(body)); err == nil {
				if b, err := io.ReadAll(zr); err == nil {
					plain = b
				}
			}
		}
		req.tap(req.target, req.body, plain, resp.StatusCode)
		return nil
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listen for moto proxy: %w", err)
	}
	s.proxy = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.Meter.record(r)
		s.Meter.measureRead(r, s.direct)
		if p := s.Meter.probe(r, s.direct); p != nil {
			// Requests are serialized here, so the items read before and
			// after are the write's own doing.
			defer p.finish()
		}
		if t := r.Header.Get("X-Amz-Target"); s.tap != nil && t != "" {
			body, err := io.ReadAll(r.Body)
			if err != nil {
				http.Error(w, "read request: "+err.Error(), http.StatusBadRequest)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			r = r.WithContext(context.WithValue(r.Context(), tappedKey{}, &tapped{target: t, body: body, tap: s.tap}))
		}
		rp.ServeHTTP(w, r)
	}), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.proxy.Serve(ln) }()
	s.Endpoint = "http://" + ln.Addr().String()
	return nil
}

func (s *Server) waitReady(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		select {
		case err := <-s.done:
			return fmt.Errorf("moto_server exited before it was ready: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		resp, err := http.Get(s.direct + "/moto-api/")
		if err == nil {
			resp.Body.Close()
			return nil
		}
	}
	return fmt.Errorf("moto_server at %s not ready after %s", s.Endpoint, limit)
}

// Replay restores the state recorded in the recording file. Replayed requests
// are not recorded again. moto replays by calling the address it was asked
// on, so the request goes to moto directly: through the serializing proxy
// it would wait on itself.
func (s *Server) Replay(ctx context.Context) error {
	return s.post(ctx, "/moto-api/recorder/replay-recording")
}

// Reset drops every resource moto holds.
func (s *Server) Reset(ctx context.Context) error { return s.post(ctx, "/moto-api/reset") }

func (s *Server) post(ctx context.Context, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.direct+path, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("moto %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return fmt.Errorf("moto %s: status %d", path, resp.StatusCode)
	}
	return nil
}

// Stop ends the process and waits for it.
func (s *Server) Stop() {
	if s.proxy != nil {
		_ = s.proxy.Close()
	}
	if s.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.done
	}
}

// upstreamTimeout bounds one request at moto; the slowest seen (a Query
// over a month of a busy stack's items) take a few seconds.
const upstreamTimeout = 2 * time.Minute

type tappedKey struct{}

type tapped struct {
	target string
	body   []byte
	tap    Tap
}

// portFree fails with a clear message when addr is already taken.
func portFree(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("moto address %s is taken (another emulator or a second `make run`?): set OCX_MOTO_ADDR to a free address, or leave it unset to pick one: %w", addr, err)
	}
	return l.Close()
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return "127.0.0.1:" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port), nil
}
