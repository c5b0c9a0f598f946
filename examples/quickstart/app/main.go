// Command app is the quickstart's sample web app: the thing bakery deploys
// in the demo. It serves one page that shows, big, which environment it is
// and which version it runs, so a release can be watched travelling from
// staging to production.
//
// Configuration is by environment variable:
//
//	PORT         port to listen on (required)
//	HOST         address to listen on (default 127.0.0.1)
//	APP_ENV      environment name, e.g. staging or production
//	APP_VERSION  version being served
//	APP_ERROR_RATE  share of page requests (0-1) answered 500, to show a bad
//	             release; a build can bake one in with
//	             -ldflags "-X main.builtInErrorRate=0.3"
//	APP_ERROR_AFTER  with an error rate: start failing only this long after
//	             starting (e.g. 7s), to show a release that goes bad later
//
// Endpoints: GET / (the page), GET /healthz ("ok"), GET /version (JSON).
//
// "app -check URL" is a health probe for deploy scripts (no curl needed):
// it exits 0 if URL answers 200, and 1 otherwise. With -want-version V it
// also requires URL's JSON "version" to be V.
//
// "app -load URL -rps N" is the demo's traffic: it requests URL N times a
// second and prints, every 5 seconds, how many answers came from each
// version behind bakery's router (its X-Bakery-Track header) and how many
// were errors.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
)

// builtInErrorRate is set at build time (-ldflags "-X
// main.builtInErrorRate=0.3") to make a build that fails some requests:
// the demo's bad release. APP_ERROR_RATE overrides it.
var builtInErrorRate string

func main() {
	check := flag.String("check", "", "probe `URL` instead of serving: exit 0 if it answers 200, 1 otherwise")
	wantVersion := flag.String("want-version", "", "with -check: also require the JSON \"version\" at URL to be `V`")
	load := flag.String("load", "", "send traffic to `URL` instead of serving (the demo's users)")
	rps := flag.Int("rps", 20, "with -load: requests per second")
	loadFor := flag.Duration("for", 0, "with -load: stop after this long (0: until interrupted)")
	flag.Parse()
	if *load != "" {
		if err := generateLoad(*load, *rps, *loadFor, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	if *check != "" {
		if err := probe(*check, *wantVersion, 2*time.Second); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}

	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(log); err != nil {
		log.Error("app stopped", "error", err)
		os.Exit(1)
	}
}

// run serves until SIGTERM or SIGINT, then shuts down gracefully.
func run(log *slog.Logger) error {
	port := os.Getenv("PORT")
	if port == "" {
		return errors.New("PORT is not set: run e.g. PORT=8081 APP_ENV=staging APP_VERSION=v1 app")
	}
	rate := 0.0
	if text := getenv("APP_ERROR_RATE", builtInErrorRate); text != "" {
		r, err := strconv.ParseFloat(text, 64)
		if err != nil || r < 0 || r > 1 {
			return fmt.Errorf("APP_ERROR_RATE=%q must be a number from 0 to 1, e.g. 0.3", text)
		}
		rate = r
	}
	var after time.Duration
	if text := os.Getenv("APP_ERROR_AFTER"); text != "" {
		d, err := time.ParseDuration(text)
		if err != nil || d < 0 {
			return fmt.Errorf("APP_ERROR_AFTER=%q must be a duration such as 7s", text)
		}
		after = d
	}
	a := &app{
		env:       getenv("APP_ENV", "development"),
		version:   getenv("APP_VERSION", "dev"),
		started:   time.Now().UTC(),
		log:       log,
		errorRate: rate,
		failFrom:  time.Now().Add(after),
	}
	addr := net.JoinHostPort(getenv("HOST", "127.0.0.1"), port)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("cannot listen on %s (is another process using port %s?): %w", addr, port, err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	srv := &http.Server{Handler: a.handler(), ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("app started", "environment", a.env, "version", a.version, "addr", "http://"+ln.Addr().String(), "pid", os.Getpid())

	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down", "environment", a.env, "version", a.version)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	log.Info("stopped", "environment", a.env, "version", a.version)
	return nil
}

func getenv(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

type app struct {
	env, version string
	started      time.Time
	log          *slog.Logger
	errorRate    float64
	failFrom     time.Time // no injected errors before this
	served       atomic.Int64
}

// fails reports whether the n-th page request (0-based) is one of the
// injected errors: exactly errorRate of every run of requests.
func (a *app) fails(n int64) bool {
	return a.errorRate > 0 && int64(float64(n+1)*a.errorRate) > int64(float64(n)*a.errorRate)
}

// versionInfo is the body of GET /version.
type versionInfo struct {
	Environment string    `json:"environment"`
	Version     string    `json:"version"`
	StartedAt   time.Time `json:"started_at"`
	ErrorRate   float64   `json:"error_rate,omitempty"`
}

func (a *app) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		if !time.Now().Before(a.failFrom) && a.fails(a.served.Add(1)-1) {
			http.Error(w, fmt.Sprintf("%s %s: injected error (error rate %g)", a.env, a.version, a.errorRate), http.StatusInternalServerError)
			return
		}
		a.page(w, r)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok")
	})
	mux.HandleFunc("GET /version", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(versionInfo{Environment: a.env, Version: a.version, StartedAt: a.started, ErrorRate: a.errorRate})
	})
	return a.logRequests(mux)
}

// logRequests logs each request but the health checks deploy scripts poll.
func (a *app) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		if r.URL.Path == "/healthz" || (r.UserAgent() == loadAgent && sw.status < 500) {
			return
		}
		a.log.Info("request", "method", r.Method, "path", r.URL.Path, "status", sw.status,
			"duration", time.Since(start).Round(time.Microsecond))
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// colours is the page's palette for an environment.
type colours struct{ Background, Accent string }

func palette(env string) colours {
	switch env {
	case "production":
		return colours{Background: "#0f5132", Accent: "#d1e7dd"}
	case "staging":
		return colours{Background: "#8a4b08", Accent: "#ffe5b4"}
	default:
		return colours{Background: "#343a40", Accent: "#e9ecef"}
	}
}

func (a *app) page(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	err := pageTemplate.Execute(w, struct {
		Env, Version, Started string
		Colours               colours
	}{a.env, a.version, a.started.Format(time.RFC3339), palette(a.env)})
	if err != nil {
		a.log.Warn("rendering the page", "error", err)
	}
}

// The page polls /version and reloads itself when a new version is
// deployed, so a browser tab left open shows the release arrive.
var pageTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Env}} · {{.Version}}</title>
<style>
  html, body { height: 100%; margin: 0; }
  body { display: flex; flex-direction: column; align-items: center; justify-content: center;
         background: {{.Colours.Background}}; color: #fff; text-align: center;
         font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
  .env { font-size: clamp(3rem, 14vw, 10rem); font-weight: 800; letter-spacing: .05em;
         text-transform: uppercase; line-height: 1; }
  .version { margin-top: .3em; font-size: clamp(2rem, 8vw, 5rem); font-weight: 600;
             font-family: ui-monospace, SFMono-Regular, Menlo, monospace; color: {{.Colours.Accent}}; }
  .meta { margin-top: 2rem; font-size: 1rem; opacity: .75; }
  #status { min-height: 1.5em; margin-top: .5rem; font-size: .9rem; opacity: .9; }
</style>
</head>
<body>
  <div class="env">{{.Env}}</div>
  <div class="version">{{.Version}}</div>
  <div class="meta">started {{.Started}} · deployed by bakery</div>
  <div id="status"></div>
<script>
  const shown = {{.Version}};
  const note = document.getElementById("status");
  setInterval(async () => {
    try {
      const r = await fetch("/version", {cache: "no-store"});
      const v = await r.json();
      if (v.version !== shown) { location.reload(); return; }
      note.textContent = "";
    } catch (e) {
      note.textContent = "not answering: being redeployed?";
    }
  }, 2000);
</script>
</body>
</html>
`))

// probe gets url and reports whether it answered 200 (and, if want is set,
// served JSON whose "version" is want).
func probe(url, want string, timeout time.Duration) error {
	client := &http.Client{Timeout: timeout}
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return fmt.Errorf("%s: reading the answer: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %s", url, resp.Status)
	}
	if want == "" {
		return nil
	}
	var v versionInfo
	if err := json.Unmarshal(body, &v); err != nil {
		return fmt.Errorf("%s did not answer JSON with a version: %w", url, err)
	}
	if v.Version != want {
		return fmt.Errorf("%s serves version %q, not %q", url, v.Version, want)
	}
	return nil
}

// loadAgent is the User-Agent of -load's requests; the app does not log
// them one by one.
const loadAgent = "bakery-demo-load"

// generateLoad requests url rps times a second for d (0: forever) and
// prints a summary per version behind the router every 5 seconds.
func generateLoad(url string, rps int, d time.Duration, out io.Writer) error {
	if rps <= 0 || rps > 10000 {
		return fmt.Errorf("-rps %d: give a number of requests per second from 1 to 10000", rps)
	}
	client := &http.Client{Timeout: 5 * time.Second}
	type tally struct{ ok, failed int }
	counts := map[string]*tally{}
	tick := time.NewTicker(time.Second / time.Duration(rps))
	defer tick.Stop()
	report := time.NewTicker(5 * time.Second)
	defer report.Stop()
	var stop <-chan time.Time
	if d > 0 {
		stop = time.After(d)
	}
	results := make(chan [2]string, 1024)
	fmt.Fprintf(out, "sending %d requests a second to %s\n", rps, url)
	for {
		select {
		case <-stop:
			return nil
		case r := <-results:
			t := counts[r[0]]
			if t == nil {
				t = &tally{}
				counts[r[0]] = t
			}
			if r[1] == "ok" {
				t.ok++
			} else {
				t.failed++
			}
		case <-report.C:
			line := time.Now().Format("15:04:05")
			for _, track := range []string{"stable", "canary", "direct", "unreachable"} {
				if t := counts[track]; t != nil {
					line += fmt.Sprintf("  %s %d ok %d errors", track, t.ok, t.failed)
				}
			}
			fmt.Fprintln(out, line)
			counts = map[string]*tally{}
		case <-tick.C:
			go func() {
				req, _ := http.NewRequest(http.MethodGet, url, nil)
				req.Header.Set("User-Agent", loadAgent)
				resp, err := client.Do(req)
				if err != nil {
					results <- [2]string{"unreachable", "failed"}
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				track := resp.Header.Get("X-Bakery-Track")
				if track == "" {
					track = "direct"
				}
				outcome := "ok"
				if resp.StatusCode >= 500 {
					outcome = "failed"
				}
				results <- [2]string{track, outcome}
			}()
		}
	}
}
