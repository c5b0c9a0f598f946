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
//
// Endpoints: GET / (the page), GET /healthz ("ok"), GET /version (JSON).
//
// "app -check URL" is a health probe for deploy scripts (no curl needed):
// it exits 0 if URL answers 200, and 1 otherwise. With -want-version V it
// also requires URL's JSON "version" to be V.
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
	"syscall"
	"time"
)

func main() {
	check := flag.String("check", "", "probe `URL` instead of serving: exit 0 if it answers 200, 1 otherwise")
	wantVersion := flag.String("want-version", "", "with -check: also require the JSON \"version\" at URL to be `V`")
	flag.Parse()
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
	a := &app{
		env:     getenv("APP_ENV", "development"),
		version: getenv("APP_VERSION", "dev"),
		started: time.Now().UTC(),
		log:     log,
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
}

// versionInfo is the body of GET /version.
type versionInfo struct {
	Environment string    `json:"environment"`
	Version     string    `json:"version"`
	StartedAt   time.Time `json:"started_at"`
}

func (a *app) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", a.page)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok")
	})
	mux.HandleFunc("GET /version", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(versionInfo{Environment: a.env, Version: a.version, StartedAt: a.started})
	})
	return a.logRequests(mux)
}

// logRequests logs each request but the health checks deploy scripts poll.
func (a *app) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		if r.URL.Path == "/healthz" {
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
