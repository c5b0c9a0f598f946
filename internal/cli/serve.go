package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/bakery-deploy/bakery/internal/api"
	"github.com/bakery-deploy/bakery/internal/config"
	"github.com/bakery-deploy/bakery/internal/engine"
	"github.com/bakery-deploy/bakery/internal/github"
	"github.com/bakery-deploy/bakery/internal/httpx"
	"github.com/bakery-deploy/bakery/internal/notify"
	"github.com/bakery-deploy/bakery/internal/secret"
	"github.com/bakery-deploy/bakery/internal/store"
	"github.com/bakery-deploy/bakery/internal/store/sqlstore"
	"github.com/bakery-deploy/bakery/internal/web"
)

func newServeCmd() *cobra.Command {
	var path, addr, db, logFormat string
	cmd := &cobra.Command{
		Use:   "serve --config FILE [--addr HOST:PORT] [--db URL]",
		Short: "Run the bakery server: API, pipeline engine and deploy workers",
		Long: `Run the bakery server. --addr and --db override server.addr and
server.database from the file.

BAKERY_BOOTSTRAP_TOKEN, if set, becomes an admin token named "bootstrap" —
only while no active (unrevoked, unexpired) admin token exists; once one
does, the variable is ignored with a log line, so unset it. It must be at
least 32 random characters (make one with 'openssl rand -base64 32' or
'head -c 32 /dev/urandom | base64'); a short or guessable value stops the
server with an error. bakery removes it from its own environment once read.

Commands bakery runs (deploy, check, migration, canary) get an environment
built from an allowlist, never the server's own: PATH, HOME, USER, LOGNAME,
LANG, LC_ALL, TZ, TMPDIR, the BAKERY_* variables of the release, deploy.env,
and the names listed in deploy.inherit_env or server.inherit_env. Values of
the variables named as secret (migrations url_env, Datadog keys,
server.mask_env) are masked as *** in stored output and events.

The configuration file may also be named by BAKERY_CONFIG, and the
database URL (which may carry a password) by BAKERY_DATABASE_URL; --db wins
over it, and it over server.database. Secrets can come from files: for
BAKERY_BOOTSTRAP_TOKEN, BAKERY_DATABASE_URL and every variable the file
names as secret (url_env, api_key_env, app_key_env, mask_env), if VAR is
unset and VAR_FILE names a file, the file's content (without its trailing
newline) is used, and masked like the variable's would be. That is what
Docker and Kubernetes secrets and systemd's LoadCredential= give.

Notifications (the notifications and slack blocks): the secrets named by
every webhook's secret_env ("whsec_" + base64) and by slack.bot_token_env and
slack.signing_secret_env are checked when the server starts (an error names
the variable, never its value) and masked like the others. Slack calls
POST /webhooks/slack/commands and /webhooks/slack/interactions, verified
with the signing secret; 'bakery notifications deliveries' shows what was
sent.

SIGHUP reloads the configuration, and the files its include patterns
match now (a file with problems is refused and the old one kept); SIGINT or SIGTERM stops the server, letting
running deploy commands finish for up to 30 seconds. Stored state is never
lost by a reload or a restart.

Network (the server block of the file; a change needs a restart, except a
renewed TLS certificate, which SIGHUP reloads):
  server.tls: {cert, key}     serve HTTPS (TLS 1.2+) with these PEM files;
                              session cookies are then Secure
  server.hsts: true           add Strict-Transport-Security to HTTPS answers
  server.trusted_proxies      addresses/CIDRs of reverse proxies whose
                              X-Forwarded-For/-Proto/-Host are believed;
                              from anyone else those headers are ignored
  server.limits               read_header_timeout (default ` + shortDur(config.DefaultReadHeaderTimeout) + `),
                              read_timeout (` + shortDur(config.DefaultReadTimeout) + `, headers and body),
                              write_timeout (` + shortDur(config.DefaultWriteTimeout) + `), idle_timeout (` + shortDur(config.DefaultIdleTimeout) + `),
                              max_header_bytes (` + strconv.Itoa(config.DefaultMaxHeaderBytes) + `; more: 431),
                              max_connections (` + strconv.Itoa(config.DefaultMaxConnections) + `; more wait to be accepted),
                              max_event_streams (` + strconv.Itoa(config.DefaultMaxEventStreams) + `; more: 503),
                              max_event_streams_per_session (` + strconv.Itoa(config.DefaultMaxEventStreamsPerSession) + `; more: 429)
The built-in canary routers use the header, idle and connection limits too.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if path == "" {
				path = os.Getenv("BAKERY_CONFIG")
			}
			if path == "" {
				return errors.New("--config (or BAKERY_CONFIG) is required: the YAML file that names your services (see examples/quickstart/bakery.yaml)")
			}
			cfg, err := loadConfig(path)
			if err != nil {
				return err
			}
			if addr != "" {
				cfg.Server.Addr = addr
			}
			if db == "" {
				fromEnv, err := secret.Lookup("BAKERY_DATABASE_URL")
				if err != nil {
					return err
				}
				db = fromEnv
			}
			if db != "" {
				cfg.Server.Database = db
			}
			log := newLogger(logFormat)
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return serve(ctx, cfg, path, log)
		},
	}
	cmd.Flags().StringVar(&path, "config", "", "configuration file (YAML)")
	cmd.Flags().StringVar(&addr, "addr", "", "listen address, overrides server.addr")
	cmd.Flags().StringVar(&db, "db", "", "database URL (sqlite://PATH or postgres://...), overrides server.database")
	cmd.Flags().StringVar(&logFormat, "log-format", "text", "text or json")
	return cmd
}

// shortDur prints 10s, 2m rather than 10s, 2m0s.
func shortDur(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func newLogger(format string) *slog.Logger {
	opts := &slog.HandlerOptions{Level: slog.LevelInfo}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

func loadConfig(path string) (*config.Config, error) {
	cfg, err := config.Load(path)
	var verr *config.ValidationError
	if errors.As(err, &verr) {
		for _, p := range verr.Problems {
			fmt.Fprintln(os.Stderr, p.String())
		}
		return nil, fmt.Errorf("%s has %d problem(s); fix them and start again ('bakery validate --config %s' checks without starting)",
			path, len(verr.Problems), path)
	}
	return cfg, err
}

// server is a bakery server's parts once started: the engine on its open
// store, the HTTP server with the API and the dashboard, and its listener.
// serve runs one; tests start the same one.
type server struct {
	log  *slog.Logger
	e    *engine.Engine
	st   store.Store
	hub  *web.Hub
	http *http.Server
	ln   net.Listener
	cert *httpx.Certificate // nil: plain HTTP
	// notify delivers notifications; slack answers Slack's requests;
	// stopNotify ends the notifier's sweeper and waits for it.
	notify     *notify.Notifier
	slack      *notify.SlackHandler
	stopNotify func()
}

func serve(ctx context.Context, cfg *config.Config, path string, log *slog.Logger) error {
	// A weak bootstrap token is refused before anything starts: it would
	// become an admin token. It is read once and then removed from bakery's
	// own environment, so nothing started later can see it; its value stays
	// masked in stored output.
	bootstrap, err := secret.Lookup("BAKERY_BOOTSTRAP_TOKEN")
	if err != nil {
		return err
	}
	_ = os.Unsetenv("BAKERY_BOOTSTRAP_TOKEN")
	_ = os.Unsetenv("BAKERY_BOOTSTRAP_TOKEN" + secret.FileSuffix)
	var secrets []string
	if bootstrap != "" {
		if err := api.CheckBootstrapToken(bootstrap); err != nil {
			return err
		}
		secrets = append(secrets, bootstrap)
	}
	s, err := start(ctx, cfg, log, secrets...)
	if err != nil {
		return err
	}
	if bootstrap != "" {
		if _, err := s.e.Bootstrap(ctx, api.HashToken(bootstrap)); err != nil {
			s.stop()
			return err
		}
	}
	if err := s.listen(cfg.Server); err != nil {
		s.stop()
		return err
	}

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				s.reload(ctx, path)
			}
		}
	}()
	return s.run(ctx)
}

// start opens the store and starts the engine, and builds the HTTP server
// with cfg.Server's limits, TLS and trusted proxies. It does not listen
// yet (see listen); on an error everything started is stopped.
// secrets are values masked in stored output besides those the
// configuration names (the bootstrap token).
func start(ctx context.Context, cfg *config.Config, log *slog.Logger, secrets ...string) (*server, error) {
	s := &server{log: log}
	if cfg.Server.TLS != nil {
		cert, err := httpx.LoadCertificate(cfg.Server.TLS.Cert, cfg.Server.TLS.Key)
		if err != nil {
			return nil, err
		}
		s.cert = cert
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// The dashboard's live updates: the engine reports every change to the
	// hub, which never blocks it.
	s.hub = web.NewHub()
	// Secrets the notifications and slack blocks name are checked before
	// anything starts, naming the variable and never its value.
	if err := cfg.CheckSecrets(secret.Getenv); err != nil {
		s.hub.Close()
		return nil, err
	}
	// The API's cached service views are invalidated by the same
	// announcement (the API server is built once the store is open).
	var views atomic.Pointer[api.Server]
	onChange := func(service string) {
		s.hub.Notify(service)
		if a := views.Load(); a != nil {
			a.Invalidate(service)
		}
	}
	s.e = engine.New(engine.Options{Config: cfg, Logger: log, OnChange: onChange, Registerer: reg, Secrets: secrets,
		DecideInBackground: true})
	// GitHub in (the webhook) and out (deployments and statuses, as jobs
	// fed by the event log): subscribed before the store takes the workers.
	gh := github.New(github.Options{Engine: s.e, Logger: log})
	s.e.Subscribe(gh)
	// The notifier follows the event log; its workers are registered now,
	// before the store takes the engine's workers.
	s.notify = notify.New(notify.Options{Engine: s.e, Logger: log})
	s.e.Subscribe(s.notify)
	st, err := sqlstore.Open(ctx, cfg.Server.Database, sqlstore.Options{Workers: s.e.Workers(), Logger: log})
	if err != nil {
		s.hub.Close()
		return nil, err
	}
	s.st = st
	gh.Bind(st)
	if err := s.e.Start(ctx, st); err != nil {
		s.closeStore()
		s.hub.Close()
		return nil, err
	}
	nctx, ncancel := context.WithCancel(context.Background())
	ndone := make(chan struct{})
	go func() { defer close(ndone); s.notify.Run(nctx) }()
	s.slack = s.notify.NewSlackHandler()
	s.stopNotify = func() { ncancel(); <-ndone; s.slack.Wait() }
	apiSrv := api.New(s.e, log, reg)
	apiSrv.MountWebhook(github.WebhookPath, gh)
	apiSrv.SetGitHub(gh)
	apiSrv.SetNotifications(s.notify)
	apiSrv.Handle("POST "+notify.CommandsPath, s.slack)
	apiSrv.Handle("POST "+notify.InteractionsPath, s.slack)
	// One process owns a SQLite database, so it hears of every change;
	// replicas on PostgreSQL hear only of their own, and the TTL bounds
	// how long another's change may take to show.
	if st.Kind() == "postgres" {
		apiSrv.CacheViews(2 * time.Second)
	} else {
		apiSrv.CacheViews(20 * time.Second)
	}
	views.Store(apiSrv)
	// Replicas sharing PostgreSQL each see only their own changes through
	// OnChange; the dashboard reads the others' from the event log.
	var poll time.Duration
	if st.Kind() == "postgres" {
		poll = time.Second
	}
	limits := cfg.Server.Limits
	apiSrv.Mount(web.New(web.Options{Engine: s.e, Views: apiSrv, Hub: s.hub, Logger: log, PollInterval: poll,
		MaxStreams: limits.MaxEventStreams, MaxStreamsPerSession: limits.MaxEventStreamsPerSession, Limiter: apiSrv.AuthLimiter()}))
	s.http = httpServer(cfg.Server, apiSrv, s.cert, log)
	// Event streams never go idle: end them when the server shuts down.
	s.http.RegisterOnShutdown(s.hub.Close)
	return s, nil
}

// httpServer is the http.Server of bakery serve: the limits of
// server.limits, the trusted proxies, HSTS and TLS (cert, when not nil).
func httpServer(cfg config.Server, h http.Handler, cert *httpx.Certificate, log *slog.Logger) *http.Server {
	o := httpx.ServerOptions{Limits: cfg.Limits, Proxies: httpx.NewProxies(cfg.TrustedProxies), HSTS: cfg.HSTS,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
	if cert != nil {
		o.TLS = cert.Config()
	}
	return httpx.NewServer(httpx.Gzip(h), o)
}

// listen opens the server's listener: at most limits.max_connections
// connections are served at once.
func (s *server) listen(cfg config.Server) error {
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("cannot listen on %s: %w (choose another with --addr)", cfg.Addr, err)
	}
	s.ln = httpx.LimitListener(ln, cfg.Limits.MaxConnections)
	return nil
}

// url is where the server is reached.
func (s *server) url() string {
	if s.cert != nil {
		return "https://" + s.ln.Addr().String()
	}
	return "http://" + s.ln.Addr().String()
}

// reload reads the configuration file again (SIGHUP) and the TLS
// certificate, so a renewed one is served without a restart.
func (s *server) reload(ctx context.Context, path string) {
	next, err := loadConfig(path)
	if err != nil {
		s.log.Error("configuration not reloaded; keeping the one in force", "path", path, "error", err)
	} else {
		next.Server = s.e.Config().Server // address, database, TLS and limits change only with a restart
		s.e.SetConfig(ctx, next)
	}
	if s.cert != nil {
		if err := s.cert.Reload(); err != nil {
			s.log.Error("TLS certificate not reloaded; keeping the one in use", "error", err)
		} else {
			s.log.Info("TLS certificate reloaded")
		}
	}
}

// run serves until ctx is done or serving fails, then shuts everything
// down.
func (s *server) run(ctx context.Context) error {
	s.log.Info("bakery is serving", "url", s.url(), "database", s.st.Kind(), "services", len(s.e.Config().Services))
	errc := make(chan error, 1)
	go func() {
		if s.cert != nil {
			errc <- s.http.ServeTLS(s.ln, "", "")
			return
		}
		errc <- s.http.Serve(s.ln)
	}()
	var err error
	select {
	case err = <-errc:
	case <-ctx.Done():
		s.log.Info("stopping")
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.http.Shutdown(sctx)
	s.stop()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// stop stops the engine and closes the store.
func (s *server) stop() {
	if s.stopNotify != nil {
		s.stopNotify()
	}
	s.e.Stop(context.Background())
	s.closeStore()
	s.hub.Close()
}

func (s *server) closeStore() {
	cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.st.Close(cctx); err != nil {
		s.log.Error("error closing the database", "error", err)
	}
}
