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
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/bakery-deploy/bakery/internal/api"
	"github.com/bakery-deploy/bakery/internal/config"
	"github.com/bakery-deploy/bakery/internal/engine"
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

SIGHUP reloads the configuration (a file with problems is
refused and the old one kept); SIGINT or SIGTERM stops the server, letting
running deploy commands finish for up to 30 seconds. Stored state is never
lost by a reload or a restart.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if path == "" {
				return errors.New("--config is required: the YAML file that names your services (see examples/quickstart/bakery.yaml)")
			}
			cfg, err := loadConfig(path)
			if err != nil {
				return err
			}
			if addr != "" {
				cfg.Server.Addr = addr
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

func serve(ctx context.Context, cfg *config.Config, path string, log *slog.Logger) error {
	// A weak bootstrap token is refused before anything starts: it would
	// become an admin token.
	if tok := os.Getenv("BAKERY_BOOTSTRAP_TOKEN"); tok != "" {
		if err := api.CheckBootstrapToken(tok); err != nil {
			return err
		}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// The dashboard's live updates: the engine reports every change to the
	// hub, which never blocks it.
	hub := web.NewHub()
	defer hub.Close()
	// The bootstrap token is read once and then removed from bakery's own
	// environment, so nothing started later can see it; its value stays
	// masked in stored output.
	bootstrap := os.Getenv("BAKERY_BOOTSTRAP_TOKEN")
	_ = os.Unsetenv("BAKERY_BOOTSTRAP_TOKEN")
	var secrets []string
	if bootstrap != "" {
		secrets = append(secrets, bootstrap)
	}
	e := engine.New(engine.Options{Config: cfg, Logger: log, OnChange: hub.Notify, Registerer: reg, Secrets: secrets})
	st, err := sqlstore.Open(ctx, cfg.Server.Database, sqlstore.Options{Workers: e.Workers(), Logger: log})
	if err != nil {
		return err
	}
	closeStore := func() {
		cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := st.Close(cctx); err != nil {
			log.Error("error closing the database", "error", err)
		}
	}
	if err := e.Start(ctx, st); err != nil {
		closeStore()
		return err
	}
	if tok := bootstrap; tok != "" {
		if _, err := e.Bootstrap(ctx, api.HashToken(tok)); err != nil {
			e.Stop(context.Background())
			closeStore()
			return err
		}
	}
	ln, err := net.Listen("tcp", cfg.Server.Addr)
	if err != nil {
		e.Stop(context.Background())
		closeStore()
		return fmt.Errorf("cannot listen on %s: %w (choose another with --addr)", cfg.Server.Addr, err)
	}
	apiSrv := api.New(e, log, reg)
	// Replicas sharing PostgreSQL each see only their own changes through
	// OnChange; the dashboard reads the others' from the event log.
	var poll time.Duration
	if st.Kind() == "postgres" {
		poll = time.Second
	}
	apiSrv.Mount(web.New(web.Options{Engine: e, Views: apiSrv, Hub: hub, Logger: log, PollInterval: poll, Limiter: apiSrv.AuthLimiter()}))
	srv := &http.Server{Handler: apiSrv, ReadHeaderTimeout: 10 * time.Second}
	// Event streams never go idle: end them when the server shuts down.
	srv.RegisterOnShutdown(hub.Close)
	log.Info("bakery is serving", "url", "http://"+ln.Addr().String(), "database", st.Kind(), "services", len(cfg.Services))

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				next, err := loadConfig(path)
				if err != nil {
					log.Error("configuration not reloaded; keeping the one in force", "path", path, "error", err)
					continue
				}
				next.Server = e.Config().Server // address and database change only with a restart
				e.SetConfig(ctx, next)
			}
		}
	}()

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err = <-errc:
	case <-ctx.Done():
		log.Info("stopping")
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	e.Stop(context.Background())
	closeStore()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}
