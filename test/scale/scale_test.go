// Package scale is bakery's scale harness: it generates a config of N
// services, runs the real `bakery serve` as a process on a real database,
// drives it over HTTP like its users do and prints what it measured as
// FIGURE lines (docs/PERFORMANCE.md lists them, with the commands).
//
// It runs as an ordinary test at a small size (N=20, a few seconds), so it
// cannot rot; the big sizes run on demand:
//
//	BAKERY_SCALE_N=1000 BAKERY_SCALE_IDLE=60s go test -count=1 -v ./test/scale/ -run TestScale
//
// BAKERY_SCALE_WATCH=1 keeps a dashboard open (the overview's first page:
// its event stream, and the fragments its script fetches) during the
// burst, to measure what an open dashboard costs the server (burst_cpu).
//
// BAKERY_SCALE_BIN measures another build of bakery (say, the main branch
// before a change) with the same harness, so that two builds can be run
// side by side.
package scale

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// adminToken is the server's bootstrap token (44+ characters, as the server
// requires).
const adminToken = "scale-admin-Qm9vdHN0cmFwIHRva2VuIGZvciB0ZXN0cyBvbmx5"

// clients is how many clients create releases at once in the burst.
const clients = 8

var bakeryBin string

func TestMain(m *testing.M) {
	if bin := os.Getenv("BAKERY_SCALE_BIN"); bin != "" {
		bakeryBin = bin
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "bakery-scale-")
	if err != nil {
		panic(err)
	}
	// Never a race build: the figures are the binary's, not the detector's.
	bakeryBin = filepath.Join(dir, "bakery")
	build := exec.Command("go", "build", "-o", bakeryBin, "../../cmd/bakery")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "error building bakery:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// params are the harness's knobs, from the environment.
type params struct {
	services int           // N: services in the config
	releases int           // releases in the burst, one per service
	idle     time.Duration // how long idle CPU is measured
	bake     time.Duration // production's bake
	requests int           // samples of each read endpoint
	db       string        // a postgres:// URL, or "" for SQLite in a temporary directory
	watch    bool          // a dashboard's event stream is open during the burst
}

func envInt(t *testing.T, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	require.NoError(t, err, "%s must be a number", name)
	return n
}

func envDuration(t *testing.T, name string, def time.Duration) time.Duration {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	require.NoError(t, err, "%s must be a duration such as 60s", name)
	return d
}

func readParams(t *testing.T) params {
	p := params{services: envInt(t, "BAKERY_SCALE_N", 20)}
	p.releases = envInt(t, "BAKERY_SCALE_RELEASES", min(p.services, 1000))
	p.idle = envDuration(t, "BAKERY_SCALE_IDLE", 3*time.Second)
	// Long enough for the burst and the staging deploys to end before the
	// first deadline, so that the deadlines measure the engine, not the
	// burst.
	p.bake = envDuration(t, "BAKERY_SCALE_BAKE", 4*time.Second+time.Duration(p.releases)*15*time.Millisecond)
	p.requests = envInt(t, "BAKERY_SCALE_REQUESTS", 20)
	p.db = os.Getenv("BAKERY_SCALE_DB")
	p.watch = os.Getenv("BAKERY_SCALE_WATCH") == "1"
	require.LessOrEqual(t, p.releases, p.services, "BAKERY_SCALE_RELEASES is at most BAKERY_SCALE_N (one release per service)")
	return p
}

func serviceName(i int) string { return fmt.Sprintf("svc-%05d", i) }

// writeConfig writes one file of n services, each with a staging and a
// production environment, team and tier labels left out so that builds
// without labels accept it too.
func writeConfig(t *testing.T, path, addr string, n int, bake time.Duration) {
	writeConfigBakes(t, path, addr, n, func(int) time.Duration { return bake })
}

// writeConfigBakes is writeConfig with a bake of each service's own.
func writeConfigBakes(t *testing.T, path, addr string, n int, bake func(i int) time.Duration) {
	var b strings.Builder
	fmt.Fprintf(&b, "server:\n  addr: %s\nservices:\n", addr)
	for i := range n {
		fmt.Fprintf(&b, "  - name: %s\n    environments:\n"+
			"      - name: staging\n        deploy:\n          command: [\"/bin/true\"]\n"+
			"      - name: production\n        bake: %s\n        deploy:\n          command: [\"/bin/true\"]\n",
			serviceName(i), fmt.Sprintf("%dus", (bake(i)+time.Microsecond-1)/time.Microsecond))
	}
	// Written whole, then renamed: a reload never reads half a file.
	require.NoError(t, os.WriteFile(path+".new", []byte(b.String()), 0o644))
	require.NoError(t, os.Rename(path+".new", path))
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

// proc is the running server.
type proc struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	logs bytes.Buffer
	done chan struct{}
}

func (p *proc) Logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

// cpuTicks is the process's own user+system CPU time in clock ticks
// (1/100 s on Linux) from /proc/PID/stat.
func (p *proc) cpuTicks(t *testing.T) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	require.NoError(t, err)
	// The command name (field 2) may hold spaces; the fields after its
	// closing parenthesis are fixed: utime and stime are the 12th and 13th.
	fields := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
	utime, err := strconv.ParseInt(fields[11], 10, 64)
	require.NoError(t, err)
	stime, err := strconv.ParseInt(fields[12], 10, 64)
	require.NoError(t, err)
	return utime + stime
}

// memory is VmRSS and VmHWM (peak RSS) in MiB.
func (p *proc) memory(t *testing.T) (rss, peak float64) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	require.NoError(t, err)
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "VmRSS:":
			rss = kb / 1024
		case "VmHWM:":
			peak = kb / 1024
		}
	}
	return rss, peak
}

func percentile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(q*float64(len(s))+0.5) - 1
	return s[max(0, min(i, len(s)-1))]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond)) }

type harness struct {
	t      *testing.T
	p      params
	addr   string
	base   string
	client *http.Client
	srv    *proc
}

func (h *harness) figure(name, format string, args ...any) {
	fmt.Printf("FIGURE n=%d %s %s\n", h.p.services, name, fmt.Sprintf(format, args...))
}

func (h *harness) do(method, path string, body any, hdr map[string]string) (int, []byte, http.Header) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(h.t, err)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, h.base+path, rd)
	require.NoError(h.t, err)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := h.client.Do(req)
	require.NoError(h.t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(h.t, err)
	return resp.StatusCode, data, resp.Header
}

// start runs `bakery serve` and returns how long it took until /healthz
// answered 200.
func (h *harness) start(dir, config, db string) time.Duration {
	cmd := exec.Command(bakeryBin, "serve", "--config", config, "--db", db, "--addr", h.addr)
	cmd.Env = append(os.Environ(), "BAKERY_BOOTSTRAP_TOKEN="+adminToken)
	cmd.Dir = dir
	p := &proc{cmd: cmd, done: make(chan struct{})}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			if p.logs.Len() < 4<<20 {
				p.logs.WriteString(sc.Text() + "\n")
			}
			p.mu.Unlock()
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	began := time.Now()
	require.NoError(h.t, cmd.Start())
	go func() {
		_ = cmd.Wait()
		pw.Close()
		close(p.done)
	}()
	h.srv = p
	h.t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(60 * time.Second):
			_ = cmd.Process.Kill()
		}
		if h.t.Failed() {
			logs := p.Logs()
			if len(logs) > 20000 {
				logs = logs[len(logs)-20000:]
			}
			h.t.Logf("server logs (tail):\n%s", logs)
		}
	})
	deadline := began.Add(5 * time.Minute)
	for {
		select {
		case <-p.done:
			h.t.Fatalf("bakery serve exited early:\n%s", p.Logs())
		default:
		}
		resp, err := h.client.Get(h.base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return time.Since(began)
			}
		}
		require.True(h.t, time.Now().Before(deadline), "bakery serve did not answer /healthz within 5 minutes:\n%s", p.Logs())
		time.Sleep(2 * time.Millisecond)
	}
}

// TestScale is the scale benchmark: every figure the scale issue names, for
// N services (BAKERY_SCALE_N, default 20). At the default size it is a
// normal test asserting that every step worked; its timings are printed,
// not asserted.
func TestScale(t *testing.T) {
	p := readParams(t)
	dir := t.TempDir()
	h := &harness{t: t, p: p, addr: freeAddr(t), client: &http.Client{Timeout: 2 * time.Minute,
		Transport: &http.Transport{MaxIdleConnsPerHost: 4 * clients, DisableCompression: true}}}
	h.base = "http://" + h.addr
	config := filepath.Join(dir, "bakery.yaml")
	writeConfig(t, config, h.addr, p.services, p.bake)
	db := p.db
	if db == "" {
		db = "sqlite://" + filepath.Join(dir, "bakery.db")
	}
	load, _ := os.ReadFile("/proc/loadavg")
	h.figure("load", "%s", strings.Join(strings.Fields(string(load))[:3], " "))

	// 1. Start-up until /healthz answers.
	h.figure("startup", "%s", ms(h.start(dir, config, db)))

	// 2. Idle: let the start-up's own work end (a build that decides in
	// the background after listening is still busy), then measure the CPU
	// the process uses by itself (hardly affected by other processes' load).
	h.figure("settled", "%s after /healthz", ms(h.settle()))
	before := h.srv.cpuTicks(t)
	began := time.Now()
	time.Sleep(p.idle)
	used := float64(h.srv.cpuTicks(t)-before) / 100
	h.figure("idle_cpu", "%.2f%% of a core over %s", 100*used/time.Since(began).Seconds(), p.idle)
	rss, _ := h.srv.memory(t)
	h.figure("rss_idle", "%.1fMiB", rss)

	// 3. The all-services API and the overview page.
	h.readFigures()

	// 4. A burst of releases, one per service, from 8 clients at once,
	// with a dashboard open if BAKERY_SCALE_WATCH=1.
	var stopWatch func() (changes, lists, fetches int)
	if p.watch {
		stopWatch = h.watch()
	}
	cpuBefore, burstBegan := h.srv.cpuTicks(t), time.Now()
	created := h.burst()

	// 5. Every staging deploy started; the bake deadlines that follow.
	h.deadlines(created, func() {
		used := float64(h.srv.cpuTicks(t)-cpuBefore) / 100
		took := time.Since(burstBegan)
		h.figure("burst_cpu", "%.1fs of CPU over %.1fs (%.0f%% of a core) from the burst's start until every staging deploy finished, dashboard open: %t",
			used, took.Seconds(), 100*used/took.Seconds(), p.watch)
	})
	if stopWatch != nil {
		changes, lists, fetches := stopWatch()
		h.figure("dashboard_stream", "%d change events, %d list events, %d fragments fetched during the burst and its promotions", changes, lists, fetches)
	}

	// 6. The deadlines as the issue states them: a second release of each
	// service, staging done, then every bake set (by a reload) to end
	// within the same 2 s.
	h.deadlinesTogether(config)
	rss, peak := h.srv.memory(t)
	h.figure("rss_after_releases", "%.1fMiB peak %.1fMiB", rss, peak)
}

// settle waits until the server has used under 30 % of a core in each of
// three seconds running (at most 10 minutes: deciding for every service
// takes a core; a build that polls its job queue every 10 ms idles at 15 %),
// and returns how long that took.
func (h *harness) settle() time.Duration {
	began := time.Now()
	quiet := 0
	for quiet < 3 && time.Since(began) < 10*time.Minute {
		before := h.srv.cpuTicks(h.t)
		time.Sleep(time.Second)
		if h.srv.cpuTicks(h.t)-before < 30 { // ticks of 10 ms
			quiet++
		} else {
			quiet = 0
		}
	}
	return time.Since(began)
}

func (h *harness) readFigures() {
	t := h.t
	var api []time.Duration
	var size int
	// The first answer may have to build what later ones find cached.
	began := time.Now()
	code, body, _ := h.do("GET", "/api/v1/services", nil, nil)
	require.Equal(t, 200, code, "%s", body)
	h.figure("api_services_first", "%s", ms(time.Since(began)))
	for range h.p.requests {
		began := time.Now()
		code, body, _ := h.do("GET", "/api/v1/services", nil, nil)
		api = append(api, time.Since(began))
		require.Equal(t, 200, code, "%s", body)
		size = len(body)
	}
	var list struct {
		Services []json.RawMessage `json:"services"`
	}
	_, body, _ = h.do("GET", "/api/v1/services", nil, nil)
	require.NoError(t, json.Unmarshal(body, &list))
	require.NotEmpty(t, list.Services)
	h.figure("api_services", "p50 %s p99 %s, %d services in the first answer, %d bytes", ms(percentile(api, .5)), ms(percentile(api, .99)), len(list.Services), size)

	// The overview, signed in like a person, asking for gzip like a browser.
	c := &http.Client{Transport: h.client.Transport, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	cookie := h.signIn()
	var page []time.Duration
	var wire int
	var encoding string
	for range h.p.requests {
		req, err := http.NewRequest("GET", h.base+"/", nil)
		require.NoError(t, err)
		req.AddCookie(cookie)
		req.Header.Set("Accept-Encoding", "gzip")
		began := time.Now()
		resp, err := c.Do(req)
		require.NoError(t, err)
		data, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		page = append(page, time.Since(began))
		require.NoError(t, err)
		require.Equal(t, 200, resp.StatusCode)
		wire, encoding = len(data), resp.Header.Get("Content-Encoding")
	}
	if encoding == "" {
		encoding = "identity"
	}
	h.figure("overview", "p50 %s p99 %s, %d bytes on the wire (%s)", ms(percentile(page, .5)), ms(percentile(page, .99)), wire, encoding)
}

// signIn signs in with the admin token like the sign-in form and returns
// the session cookie.
func (h *harness) signIn() *http.Cookie {
	t := h.t
	c := &http.Client{Transport: h.client.Transport, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.PostForm(h.base+"/signin", url.Values{"token": {adminToken}})
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	for _, ck := range resp.Cookies() {
		if ck.Name == "bakery_session" {
			return ck
		}
	}
	t.Fatal("sign-in sets no session cookie")
	return nil
}

// watch opens the event stream of an overview showing its first page and
// does what the dashboard's script does with it, until the returned func
// is called: on a change of a row on the page it fetches that row, on any
// other change (or "*") it fetches the page's rows, one fetch at a time,
// repeated changes coalescing while one runs. The func says how many
// change and list events came and how many fragments were fetched.
func (h *harness) watch() func() (changes, lists, fetches int) {
	t := h.t
	cookie := h.signIn()
	onPage := map[string]bool{}
	for i := range min(100, h.p.services) {
		onPage[serviceName(i)] = true
	}
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", h.base+"/ui/events?view=overview", nil)
	require.NoError(t, err)
	req.AddCookie(cookie)
	client := &http.Client{Transport: &http.Transport{}}
	resp, err := client.Do(req)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var changes, lists, fetches atomic.Int64
	var mu sync.Mutex
	pending, rows := map[string]bool{}, false
	wake := make(chan struct{}, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		event := ""
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: ") && event == "change":
				changes.Add(1)
				var d struct{ Service string }
				_ = json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &d)
				mu.Lock()
				if onPage[d.Service] {
					pending[d.Service] = true
				} else {
					rows = true
				}
				mu.Unlock()
				select {
				case wake <- struct{}{}:
				default:
				}
			case strings.HasPrefix(line, "data: ") && event == "list":
				lists.Add(1)
			}
		}
	}()
	fetched := make(chan struct{})
	go func() {
		defer close(fetched)
		get := func(path string) {
			req, _ := http.NewRequestWithContext(ctx, "GET", h.base+path, nil)
			req.AddCookie(cookie)
			if resp, err := client.Do(req); err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				fetches.Add(1)
			}
		}
		for {
			select {
			case <-ctx.Done():
				return
			case <-wake:
			}
			time.Sleep(30 * time.Millisecond) // the script's debounce
			mu.Lock()
			services, all := pending, rows
			pending, rows = map[string]bool{}, false
			mu.Unlock()
			if all {
				get("/ui/fragments/services")
			}
			for svc := range services {
				get("/ui/fragments/services/" + svc)
			}
		}
	}()
	return func() (int, int, int) {
		cancel()
		<-done
		<-fetched
		return int(changes.Load()), int(lists.Load()), int(fetches.Load())
	}
}

// burst creates one release for each of the first p.releases services from
// 8 clients as fast as the server accepts them, and returns when each
// creation returned.
func (h *harness) burst() map[string]time.Time { return h.burstRound(1, "releases") }

// version is the version of service i's release of the given round.
func version(i, round int) string { return fmt.Sprintf("%040x", round<<32+i+1) }

// burstRound is burst for the round's versions, printing its figure as name.
func (h *harness) burstRound(round int, name string) map[string]time.Time {
	t := h.t
	created := make(map[string]time.Time, h.p.releases)
	var mu sync.Mutex
	next := make(chan int)
	var wg sync.WaitGroup
	failures := make(chan string, h.p.releases)
	began := time.Now()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				svc := serviceName(i)
				version := version(i, round)
				b, _ := json.Marshal(map[string]string{"version": version, "artifact": "registry.example/" + svc + ":" + version[:8], "message": "change", "author": "scale"})
				req, _ := http.NewRequest("POST", h.base+"/api/v1/services/"+svc+"/releases", bytes.NewReader(b))
				req.Header.Set("Authorization", "Bearer "+adminToken)
				req.Header.Set("Content-Type", "application/json")
				resp, err := h.client.Do(req)
				if err != nil {
					failures <- err.Error()
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				at := time.Now()
				if resp.StatusCode != http.StatusCreated {
					failures <- fmt.Sprintf("%s: %d %s", svc, resp.StatusCode, body)
					continue
				}
				mu.Lock()
				created[svc] = at
				mu.Unlock()
			}
		}()
	}
	for i := range h.p.releases {
		next <- i
	}
	close(next)
	wg.Wait()
	took := time.Since(began)
	close(failures)
	for f := range failures {
		t.Errorf("release not accepted: %s", f)
	}
	require.Len(t, created, h.p.releases)
	h.figure(name, "%d accepted in %s: %.0f/s with %d clients", len(created), ms(took), float64(len(created))/took.Seconds(), clients)
	return created
}

type deployment struct {
	Environment string     `json:"environment"`
	Version     string     `json:"version"`
	State       string     `json:"state"`
	StartedAt   *time.Time `json:"started_at"`
	FinishedAt  *time.Time `json:"finished_at"`
}

// deployments reads each named service's deployments, 8 at a time.
func (h *harness) deployments(services []string) map[string][]deployment {
	out := make(map[string][]deployment, len(services))
	var mu sync.Mutex
	next := make(chan string)
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for svc := range next {
				code, body, _ := h.do("GET", "/api/v1/services/"+svc+"/deployments", nil, nil)
				var ds struct {
					Deployments []deployment `json:"deployments"`
				}
				if code != 200 || json.Unmarshal(body, &ds) != nil {
					continue
				}
				mu.Lock()
				out[svc] = ds.Deployments
				mu.Unlock()
			}
		}()
	}
	for _, s := range services {
		next <- s
	}
	close(next)
	wg.Wait()
	return out
}

func find(ds []deployment, env, version string, finished bool) *deployment {
	for i := range ds {
		if ds[i].Environment == env && (version == "" || ds[i].Version == version) && ds[i].StartedAt != nil && (!finished || ds[i].FinishedAt != nil) {
			return &ds[i]
		}
	}
	return nil
}

// waitFor polls the services' deployments until each has one into env
// that started (and finished, if asked), and returns those.
func (h *harness) waitFor(services []string, env string, finished bool, timeout time.Duration) map[string]deployment {
	return h.waitForVersion(services, env, nil, finished, timeout)
}

// waitForVersion is waitFor for one version of each service (version
// names it; nil: any).
func (h *harness) waitForVersion(services []string, env string, version func(svc string) string, finished bool, timeout time.Duration) map[string]deployment {
	got := make(map[string]deployment, len(services))
	deadline := time.Now().Add(timeout)
	missing := services
	for len(missing) > 0 {
		var still []string
		for svc, ds := range h.deployments(missing) {
			v := ""
			if version != nil {
				v = version(svc)
			}
			if d := find(ds, env, v, finished); d != nil {
				got[svc] = *d
			}
		}
		for _, s := range missing {
			if _, ok := got[s]; !ok {
				still = append(still, s)
			}
		}
		missing = still
		if len(missing) == 0 {
			break
		}
		require.True(h.t, time.Now().Before(deadline), "%d services have no %s deployment after %s (one: %s)", len(missing), env, timeout, missing[0])
		time.Sleep(500 * time.Millisecond)
	}
	return got
}

func (h *harness) deadlines(created map[string]time.Time, stagingDone func()) {
	services := make([]string, 0, len(created))
	for s := range created {
		services = append(services, s)
	}
	sort.Strings(services)
	staging := h.waitFor(services, "staging", true, time.Minute+h.p.bake)
	stagingDone()
	var lag []time.Duration
	var first, last time.Time
	for _, s := range services {
		d := staging[s]
		lag = append(lag, d.StartedAt.Sub(created[s]))
		deadline := d.FinishedAt.Add(h.p.bake)
		if first.IsZero() || deadline.Before(first) {
			first = deadline
		}
		if deadline.After(last) {
			last = deadline
		}
	}
	h.figure("create_to_staging", "p50 %s p99 %s over %d releases", ms(percentile(lag, .5)), ms(percentile(lag, .99)), len(lag))
	// Read production only once every deadline passed, so that the
	// harness's reads do not compete with the promotions it measures.
	time.Sleep(time.Until(last.Add(2 * time.Second)))
	production := h.waitFor(services, "production", false, 2*time.Minute)
	var late []time.Duration
	for _, s := range services {
		late = append(late, production[s].StartedAt.Sub(staging[s].FinishedAt.Add(h.p.bake)))
	}
	h.figure("deadline_to_production", "p50 %s p99 %s over %d deadlines spread over %s", ms(percentile(late, .5)), ms(percentile(late, .99)), len(late), ms(last.Sub(first)))
}

// reload rewrites nothing: it sends SIGHUP and waits until the server said
// it reloaded its configuration (the re-decision of every service that
// follows may still be running).
func (h *harness) reload() {
	before := strings.Count(h.srv.Logs(), "configuration reloaded")
	require.NoError(h.t, h.srv.cmd.Process.Signal(syscall.SIGHUP))
	deadline := time.Now().Add(time.Minute)
	for strings.Count(h.srv.Logs(), "configuration reloaded") == before {
		require.True(h.t, time.Now().Before(deadline), "the server did not reload its configuration within a minute:\n%s", h.srv.Logs())
		time.Sleep(5 * time.Millisecond)
	}
}

// together is the window the deadlines of deadlinesTogether fall in.
const together = 2 * time.Second

// deadlinesTogether measures the case: N bake deadlines within the
// same 2 s, each release created and its staging deploy done well before.
// The bake is first set to an hour (a reload), a second release of each
// service goes to staging, and once every staging deploy finished a second
// reload sets each service's bake so that its deadline falls at a point of
// its own, spread evenly over 2 s starting a few seconds later (time for
// the reload's re-decision of every service). Figure: production deploy
// started − deadline.
func (h *harness) deadlinesTogether(config string) {
	t, n := h.t, h.p.services
	writeConfig(t, config, h.addr, n, time.Hour)
	h.reload()
	created := h.burstRound(2, "releases_round2")
	services := make([]string, 0, len(created))
	for s := range created {
		services = append(services, s)
	}
	sort.Strings(services)
	index := make(map[string]int, len(services))
	for i := range h.p.releases {
		index[serviceName(i)] = i
	}
	v2 := func(svc string) string { return version(index[svc], 2) }
	staging := h.waitForVersion(services, "staging", v2, true, time.Minute+2*time.Duration(len(services))*time.Millisecond)
	start := time.Now().Add(time.Second + time.Duration(n)*4*time.Millisecond)
	deadline := make(map[string]time.Time, len(services))
	for k, s := range services {
		deadline[s] = start.Add(time.Duration(k) * together / time.Duration(len(services)))
	}
	bake := func(i int) time.Duration {
		s := serviceName(i)
		d, ok := staging[s]
		if !ok {
			return time.Hour
		}
		b := deadline[s].Sub(*d.FinishedAt)
		// The written bake is rounded up to a microsecond (as stored).
		b = (b + time.Microsecond - 1) / time.Microsecond * time.Microsecond
		deadline[s] = d.FinishedAt.Add(b)
		return b
	}
	writeConfigBakes(t, config, h.addr, n, bake)
	h.reload()
	require.True(t, time.Now().Before(start), "the reload ended after the first deadline: raise the margin")
	time.Sleep(time.Until(start.Add(together + 2*time.Second)))
	production := h.waitForVersion(services, "production", v2, false, 2*time.Minute)
	var late []time.Duration
	var first, last time.Time
	for _, s := range services {
		late = append(late, production[s].StartedAt.Sub(deadline[s]))
		if first.IsZero() || deadline[s].Before(first) {
			first = deadline[s]
		}
		if deadline[s].After(last) {
			last = deadline[s]
		}
	}
	h.figure("deadlines_together_to_production", "p50 %s p99 %s max %s over %d deadlines within %s", ms(percentile(late, .5)), ms(percentile(late, .99)), ms(percentile(late, 1)), len(late), ms(last.Sub(first)))
}
