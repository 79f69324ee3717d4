// Package runtimeapi runs a function's bootstrap as Lambda does: as its own
// process, fetching its invocation from a local Lambda Runtime API
// (GET /2018-06-01/runtime/invocation/next) and answering on
// .../invocation/{id}/response or .../invocation/{id}/error, or reporting
// an init error on /2018-06-01/runtime/init/error.
package runtimeapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

const prefix = "/2018-06-01/runtime"

// FunctionError is an error a function reported, in the Runtime API's
// error payload.
type FunctionError struct {
	Message string   `json:"errorMessage"`
	Type    string   `json:"errorType"`
	Trace   []string `json:"stackTrace,omitempty"`
	// Init is true for an error reported before the first invocation.
	Init bool `json:"-"`
}

func (e *FunctionError) Error() string {
	if e.Init {
		return "init error: " + e.Type + ": " + e.Message
	}
	return e.Type + ": " + e.Message
}

// Invocation is one event handed to the function.
type Invocation struct {
	RequestID   string
	FunctionARN string
	Deadline    time.Time
	Payload     []byte
}

type result struct {
	response []byte
	err      *FunctionError
}

// API is a local Lambda Runtime API for one function process.
type API struct {
	// Addr is host:port, what AWS_LAMBDA_RUNTIME_API holds.
	Addr string
	srv  *http.Server

	mu      sync.Mutex
	pending chan Invocation
	results map[string]chan result
	initErr chan *FunctionError
	// Nexts counts GET .../next requests: one per invocation the runtime
	// asked for (the first marks the end of init).
	nexts chan struct{}
}

// Listen starts the API on a free loopback port.
func Listen() (*API, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen for the runtime API: %w", err)
	}
	a := &API{Addr: ln.Addr().String(), pending: make(chan Invocation), results: map[string]chan result{},
		initErr: make(chan *FunctionError, 1), nexts: make(chan struct{}, 16)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+prefix+"/invocation/next", a.next)
	mux.HandleFunc("POST "+prefix+"/invocation/{id}/response", a.respond)
	mux.HandleFunc("POST "+prefix+"/invocation/{id}/error", a.fail)
	mux.HandleFunc("POST "+prefix+"/init/error", a.initFail)
	a.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = a.srv.Serve(ln) }()
	return a, nil
}

// Close stops the API.
func (a *API) Close() error { return a.srv.Close() }

// Nexts signals each request for the next invocation.
func (a *API) Nexts() <-chan struct{} { return a.nexts }

func (a *API) next(w http.ResponseWriter, r *http.Request) {
	select {
	case a.nexts <- struct{}{}:
	default:
	}
	select {
	case inv := <-a.pending:
		w.Header().Set("Lambda-Runtime-Aws-Request-Id", inv.RequestID)
		w.Header().Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(inv.Deadline.UnixMilli(), 10))
		w.Header().Set("Lambda-Runtime-Invoked-Function-Arn", inv.FunctionARN)
		w.Header().Set("Lambda-Runtime-Trace-Id", "Root=1-"+strconv.FormatInt(time.Now().Unix(), 16)+"-"+strings.Repeat("0", 24)+";Sampled=0")
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(inv.Payload)
	case <-r.Context().Done():
	}
}

func (a *API) deliver(id string, res result) bool {
	a.mu.Lock()
	ch, ok := a.results[id]
	delete(a.results, id)
	a.mu.Unlock()
	if ok {
		ch <- res
	}
	return ok
}

func (a *API) respond(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if !a.deliver(r.PathValue("id"), result{response: body}) {
		http.Error(w, `{"errorMessage":"unknown request id","errorType":"InvalidRequestID"}`, http.StatusBadRequest)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

func readError(r *http.Request) *FunctionError {
	fe := &FunctionError{Type: r.Header.Get("Lambda-Runtime-Function-Error-Type")}
	body, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(body, fe); err != nil {
		fe.Message = string(body)
	}
	if fe.Type == "" {
		fe.Type = "Unhandled"
	}
	return fe
}

func (a *API) fail(w http.ResponseWriter, r *http.Request) {
	if !a.deliver(r.PathValue("id"), result{err: readError(r)}) {
		http.Error(w, `{"errorMessage":"unknown request id","errorType":"InvalidRequestID"}`, http.StatusBadRequest)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

func (a *API) initFail(w http.ResponseWriter, r *http.Request) {
	fe := readError(r)
	fe.Init = true
	select {
	case a.initErr <- fe:
	default:
	}
	w.WriteHeader(http.StatusAccepted)
}

// Invoke hands inv to the function and waits for its answer.
func (a *API) Invoke(ctx context.Context, inv Invocation) ([]byte, error) {
	ch := make(chan result, 1)
	a.mu.Lock()
	a.results[inv.RequestID] = ch
	a.mu.Unlock()
	select {
	case a.pending <- inv:
	case fe := <-a.initErr:
		return nil, fe
	case <-ctx.Done():
		return nil, fmt.Errorf("the function never asked for its invocation: %w", ctx.Err())
	}
	select {
	case res := <-ch:
		if res.err != nil {
			return nil, res.err
		}
		return res.response, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("no answer from the function: %w", ctx.Err())
	}
}

// Process is a bootstrap running against an API.
type Process struct {
	API    *API
	cmd    *exec.Cmd
	done   chan error
	exited chan struct{}
}

// Start runs the bootstrap with env (KEY=VALUE) plus what Lambda sets;
// its logs go to logs.
func Start(bootstrap string, env []string, logs io.Writer) (*Process, error) {
	api, err := Listen()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bootstrap)
	cmd.Env = append(append([]string{}, env...),
		"AWS_LAMBDA_RUNTIME_API="+api.Addr,
		"_HANDLER=bootstrap",
		"AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
		"AWS_EXECUTION_ENV=AWS_Lambda_provided.al2023",
		"TZ=:UTC",
		"PATH="+os.Getenv("PATH"),
	)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		api.Close()
		return nil, fmt.Errorf("start %s: %w", bootstrap, err)
	}
	p := &Process{API: api, cmd: cmd, done: make(chan error, 1), exited: make(chan struct{})}
	go func() {
		p.done <- cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// Invoke sends one event and returns the function's response, or its
// error as a *FunctionError. A process that exits first is an init error.
func (p *Process) Invoke(ctx context.Context, inv Invocation) ([]byte, error) {
	type out struct {
		b   []byte
		err error
	}
	ch := make(chan out, 1)
	go func() {
		b, err := p.API.Invoke(ctx, inv)
		ch <- out{b, err}
	}()
	select {
	case o := <-ch:
		return o.b, o.err
	case err := <-p.done:
		p.done <- err
		select {
		case fe := <-p.API.initErr:
			return nil, fe
		default:
		}
		return nil, &FunctionError{Init: true, Type: "Runtime.ExitError", Message: fmt.Sprintf("the bootstrap exited: %v", err)}
	}
}

// Exited is closed when the process has exited.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// Stop ends the process (Lambda freezes and later kills it) and the API.
func (p *Process) Stop() {
	if p.cmd.Process != nil {
		_ = p.cmd.Process.Kill()
	}
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
	}
	p.API.Close()
}

// Build compiles a function's bootstrap for this machine, with the tags the
// Lambda build uses, into dir; pkg is its package (./functions/ingest).
// Unlike `make build` it keeps file paths (no -trimpath), which lets it
// reuse what `go test` and `go vet` already compiled.
func Build(ctx context.Context, moduleDir, pkg, dir string) (string, error) {
	out := dir + "/bootstrap"
	cmd := exec.CommandContext(ctx, "go", "build", "-tags", "lambda.norpc", "-o", out, pkg)
	cmd.Dir = moduleDir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", pkg, err, stderr.String())
	}
	return out, nil
}

// ModuleDir finds the directory of the go.mod above dir.
func ModuleDir(dir string) (string, error) {
	for d := dir; ; {
		if _, err := os.Stat(d + "/go.mod"); err == nil {
			return d, nil
		}
		parent := d[:max(strings.LastIndexByte(d, '/'), 0)]
		if parent == d || parent == "" {
			return "", errors.New("no go.mod above " + dir + ": run from the OCX repository")
		}
		d = parent
	}
}
