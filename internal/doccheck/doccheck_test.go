// The doc check: every curl example of README.md, docs/API.md,
// docs/ERRORS.md and docs/EXAMPLES.md runs against the real server, and
// the test fails when one stops working.
//
// How it runs. The triggers binary is built once. Each file gets a fresh
// data directory and its own server (`triggers serve --addr 127.0.0.1:0
// --dev-key test-api-key-12345`, address read from its "listening" log
// line) behind a small recording proxy, and its blocks run in order with
// bash, in one working directory, each seeing the shell variables the
// blocks before it set (as a reader pasting them into one terminal would).
// In each block, every "localhost:8080" is replaced by the proxy's address,
// `triggers` runs the built binary, and TRIGGERS_DATA_DIR is the server's
// data directory (so `triggers keys create` makes keys the server sees).
// The proxy records the status of every response, and passes
// X-Forwarded-For through unchanged, so the server sees curl's own request.
//
// Which blocks run, and the markers (HTML comments directly above a block's
// fence) that say how:
//
//	<!-- doccheck: skip (why) -->         not run; the reason is required
//	<!-- doccheck: expect 200 409 404 -->  the HTTP statuses of its requests, in order
//	<!-- doccheck: run -->                 run although it has no curl (e.g. triggers keys create)
//	<!-- doccheck: serve FLAGS -->         needs a server with these extra flags (restarted on the
//	                                       same data directory when the flags change)
//	<!-- doccheck: setup COMMANDS -->      shell commands run before the block (same substitutions;
//	                                       their requests are not checked), for state the text takes
//	                                       for granted, such as a key made in another file
//
// A sh, bash or console block containing curl runs, unless marked skip.
// Without expect, every response must be 2xx and there must be at least
// one. Every block must exit 0 under set -e -o pipefail. A block that uses
// jq is skipped (and says so) where jq is not installed.
package doccheck_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/triggersapi/triggers/internal/doccheck"
	"github.com/triggersapi/triggers/internal/teststore"
)

// devKey is the key the docs use; every server gets it with --dev-key.
const devKey = "test-api-key-12345"

// docs are the files checked, relative to the repository root.
var docs = []string{"README.md", "docs/API.md", "docs/ERRORS.md", "docs/EXAMPLES.md"}

var (
	buildOnce sync.Once
	binary    string
	buildErr  error
)

// root is the repository root (this package is internal/doccheck).
func root(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// mustBuild builds cmd/triggers once per test binary.
func mustBuild(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "doccheck-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binary = filepath.Join(dir, "triggers")
		cmd := exec.Command("go", "build", "-o", binary, "./cmd/triggers")
		cmd.Dir = root(t)
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/triggers: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binary
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binary != "" {
		os.RemoveAll(filepath.Dir(binary))
	}
	os.Exit(code)
}

// cleanEnv is the environment without TRIGGERS_* variables (a test run on
// DynamoDB sets some), plus extra.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TRIGGERS_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// server is one `triggers serve` process.
type server struct {
	cmd   *exec.Cmd
	addr  string
	flags []string
	logs  *teststore.LogBuffer
	done  chan struct{}
}

// startServer starts the binary on dataDir with the dev key and flags, and
// waits for its "listening" line.
func startServer(t *testing.T, bin, dataDir string, flags []string) *server {
	t.Helper()
	args := append([]string{"serve", "--addr", "127.0.0.1:0", "--data-dir", dataDir, "--dev-key", devKey}, flags...)
	cmd := exec.Command(bin, args...)
	cmd.Env = cleanEnv()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{cmd: cmd, flags: flags, logs: &teststore.LogBuffer{}, done: make(chan struct{})}
	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			s.logs.Write(append(sc.Bytes(), '\n'))
			var line struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "listening" && line.Addr != "" {
				select {
				case addrc <- line.Addr:
				default:
				}
			}
		}
		io.Copy(io.Discard, stderr)
		cmd.Wait()
		close(s.done)
	}()
	select {
	case s.addr = <-addrc:
	case <-s.done:
		t.Fatalf("triggers %s exited:\n%s", strings.Join(args, " "), s.logs)
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("triggers %s did not listen within 20 s:\n%s", strings.Join(args, " "), s.logs)
	}
	return s
}

// stop ends the server gracefully (SIGTERM), so that another can open its
// data directory.
func (s *server) stop() {
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
}

// recorder is a reverse proxy to the current server that records the
// status of every response before passing it on.
type recorder struct {
	mu       sync.Mutex
	backend  string // host:port of the server
	statuses []string
}

func (r *recorder) handler() http.Handler {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			r.mu.Lock()
			backend := r.backend
			r.mu.Unlock()
			pr.SetURL(&url.URL{Scheme: "http", Host: backend})
			// Keep the request as curl sent it: the server must see the
			// client's own X-Forwarded-For (ReverseProxy drops it).
			if v, ok := pr.In.Header["X-Forwarded-For"]; ok {
				pr.Out.Header["X-Forwarded-For"] = v
			}
		},
		ModifyResponse: func(resp *http.Response) error {
			r.record(fmt.Sprintf("%d %s %s", resp.StatusCode, resp.Request.Method, resp.Request.URL.RequestURI()))
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, req *http.Request, err error) {
			r.record(fmt.Sprintf("502 %s %s (proxy: %v)", req.Method, req.URL.RequestURI(), err))
			w.WriteHeader(http.StatusBadGateway)
		},
	}
}

func (r *recorder) record(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.statuses = append(r.statuses, s)
}

func (r *recorder) setBackend(addr string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.backend = addr
}

// since returns the requests recorded after the first n.
func (r *recorder) since(n int) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.statuses[n:])
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.statuses)
}

// prelude runs before every block: it restores the shell variables of the
// blocks before, and saves them when the block ends.
const prelude = `triggers() { "$DOCCHECK_BIN" "$@"; }
__dc_save() {
  local __dc_v
  for __dc_v in $(compgen -v); do
    case "$__dc_v" in __dc_*|DOCCHECK_*|BASH*|FUNCNAME|PIPESTATUS|GROUPS|_) continue ;; esac
    case " $DOCCHECK_BASELINE " in *" $__dc_v "*) continue ;; esac
    declare -p "$__dc_v" 2>/dev/null
  done > "$DOCCHECK_STATE"
}
[ -f "$DOCCHECK_STATE" ] && source "$DOCCHECK_STATE" 2>/dev/null
trap __dc_save EXIT
set -e -o pipefail
`

var localhostRe = regexp.MustCompile(`localhost:8080\b`)

func TestDocs(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash not found")
	}
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl not found")
	}
	bin := mustBuild(t)
	_, jqErr := exec.LookPath("jq")
	baseline, err := exec.Command("bash", "-c", "compgen -v").Output()
	if err != nil {
		t.Fatalf("bash compgen: %v", err)
	}
	for _, name := range docs {
		t.Run(strings.ReplaceAll(name, "/", "_"), func(t *testing.T) {
			t.Parallel()
			text, err := os.ReadFile(filepath.Join(root(t), name))
			if err != nil {
				t.Fatal(err)
			}
			blocks, err := doccheck.Parse(name, string(text))
			if err != nil {
				t.Fatal(err)
			}
			dataDir, work := t.TempDir(), t.TempDir()
			rec := &recorder{}
			proxy := httptest.NewServer(rec.handler())
			defer proxy.Close()
			proxyAddr := strings.TrimPrefix(proxy.URL, "http://")
			var srv *server
			defer func() {
				if srv != nil {
					srv.stop()
				}
			}()
			env := cleanEnv("TRIGGERS_DATA_DIR="+dataDir, "DOCCHECK_BIN="+bin,
				"DOCCHECK_STATE="+filepath.Join(work, ".doccheck-state"),
				"DOCCHECK_BASELINE="+strings.Join(strings.Fields(string(baseline)), " "))
			ran, skips := 0, 0
			for _, b := range blocks {
				where := fmt.Sprintf("%s:%d", b.File, b.Line)
				if b.Skip != "" {
					skips++
					t.Logf("%s: skipped (%s)", where, b.Skip)
					continue
				}
				if jqErr != nil && regexp.MustCompile(`\bjq\b`).MatchString(b.Script) {
					skips++
					t.Logf("%s: skipped: uses jq, which is not installed", where)
					continue
				}
				if srv == nil || !slices.Equal(srv.flags, b.ServeFlags) {
					started := time.Now()
					if srv != nil {
						srv.stop()
					}
					srv = startServer(t, bin, dataDir, b.ServeFlags)
					rec.setBackend(srv.addr)
					if d := time.Since(started); d > time.Second {
						t.Logf("%s: (re)starting the server took %v", where, d.Round(time.Millisecond))
					}
				}
				ran++
				run := func(script string) ([]byte, error) {
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					defer cancel()
					cmd := exec.CommandContext(ctx, "bash", "-c", prelude+localhostRe.ReplaceAllString(script, proxyAddr))
					cmd.Dir, cmd.Env = work, env
					return cmd.CombinedOutput()
				}
				if len(b.Setup) > 0 {
					setup := strings.Join(b.Setup, "\n") + "\n"
					if out, err := run(setup); err != nil {
						t.Errorf("%s: setup: bash: %v\n--- setup\n%s--- output\n%s", where, err, setup, out)
						continue
					}
				}
				before := rec.count()
				started := time.Now()
				out, err := run(b.Script)
				reqs := rec.since(before)
				if d := time.Since(started); d > time.Second {
					t.Logf("%s: took %v", where, d.Round(time.Millisecond))
				}
				fail := func(format string, args ...any) {
					t.Errorf("%s: %s\n--- block\n%s--- output\n%s--- requests\n%s\n--- server log (last lines)\n%s",
						where, fmt.Sprintf(format, args...), b.Script, out, strings.Join(reqs, "\n"), tail(srv.logs.String(), 10))
				}
				if err != nil {
					fail("bash: %v", err)
					continue
				}
				var got []int
				for _, r := range reqs {
					var st int
					fmt.Sscanf(r, "%d", &st)
					got = append(got, st)
				}
				switch {
				case b.Expect != nil:
					if !slices.Equal(got, b.Expect) {
						fail("statuses %v, want %v (doccheck: expect)", got, b.Expect)
					}
				case b.HasCurl && len(got) == 0:
					fail("sent no request to the server (a URL other than localhost:8080?)")
				default:
					for _, st := range got {
						if st < 200 || st > 299 {
							fail("status %d; mark the block <!-- doccheck: expect ... --> if the doc shows an error", st)
							break
						}
					}
				}
			}
			t.Logf("%s: %d blocks ran, %d skipped", name, ran, skips)
		})
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
