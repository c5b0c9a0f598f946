package web

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/bakery-deploy/bakery/internal/api"
	"github.com/bakery-deploy/bakery/internal/config"
	"github.com/bakery-deploy/bakery/internal/pipeline"
	"github.com/bakery-deploy/bakery/internal/store"
)

// layoutData is what every signed-in page has.
type layoutData struct {
	Title        string
	Page         string // overview or service
	Service      string
	CSRF         string
	Token        store.Token
	CanDeploy    bool
	CanEmergency bool
	Banner       bannerData
	Assets       map[string]string
	// Seq is the hub's announcement number read before the page's data:
	// its event stream starts after it.
	Seq uint64
}

// seq reads the hub's announcement number; call it before reading data.
func (h *Handler) seq() uint64 {
	if h.hub == nil {
		return 0
	}
	return h.hub.Seq()
}

func (h *Handler) layout(s *Session, seq uint64, title, page, service string, banner bannerData) layoutData {
	role := s.Token.Role
	return layoutData{Title: title, Page: page, Service: service, CSRF: s.CSRF, Token: s.Token, Seq: seq,
		CanDeploy:    role == string(api.RoleDeployer) || role == string(api.RoleAdmin),
		CanEmergency: role == string(api.RoleAdmin) || (role == string(api.RoleDeployer) && s.Token.Emergency),
		Banner:       banner, Assets: h.assetsHash}
}

// bannerData is the red bar shown while any service's last environment
// (production) is locked.
type bannerData struct {
	Items []bannerItem
	// Hash digests the items: change events carry it, so that pages
	// refetch the banner only when it changed.
	Hash string
}

type bannerItem struct {
	Scope       string // a service, or "every service"
	Service     string
	Environment string
	Actor       string
	Reason      string
	Since       time.Time
	Expires     time.Time
	Global      bool
}

// banner reads the locks held on any service's last environment: one
// query, so every change may refresh it.
func (h *Handler) banner(ctx context.Context) (bannerData, error) {
	locks, err := h.e.Records().LockList(ctx, &store.LockListParams{})
	if err != nil {
		return bannerData{}, err
	}
	idx := h.index()
	last, lastNames := idx.lastEnv, idx.lastEnvs
	now := h.e.Now()
	var b bannerData
	for _, l := range locks {
		if !l.ActiveAt(now) {
			continue
		}
		it := bannerItem{Service: l.Service, Environment: l.Environment, Actor: l.Actor, Reason: l.Reason, Since: l.CreatedAt, Expires: l.ExpiresAt}
		switch {
		case l.Service == pipeline.AllServices && lastNames[l.Environment]:
			it.Scope, it.Global = "every service", true
		case l.Selector != "":
			n := 0
			for _, svc := range idx.services() {
				if last[svc.Name] == l.Environment && pipeline.SelectorMatches(l.Selector, svc.Labels) {
					n++
				}
			}
			if n == 0 {
				continue
			}
			it.Scope = fmt.Sprintf("%s (%d services)", l.Selector, n)
		case last[l.Service] == l.Environment:
			it.Scope = l.Service
		default:
			continue
		}
		b.Items = append(b.Items, it)
	}
	sort.SliceStable(b.Items, func(i, j int) bool { return b.Items[i].Global && !b.Items[j].Global })
	sum := sha256.Sum256(jsonBytes(b.Items))
	b.Hash = hex.EncodeToString(sum[:6])
	return b, nil
}

// serviceRow is one service on the overview.
type serviceRow struct {
	Name       string
	Repository string
	Envs       []envCell
	Err        string
	// GitHub says GitHub's statuses are behind ("" when up to date).
	GitHub string
}

// envCell is one environment of a service: what runs there and its state
// in words.
type envCell struct {
	Service string
	Env     api.EnvironmentView
	Index   int
	Lower   string // the environment before it; "" for the first
	Last    bool
	Short   string // the running version, shortened if it is a SHA

	// Kind is the state for colour and scripts: canary, deploying, locked,
	// failed, window, baking, ok, idle.
	Kind   string
	Label  string // the state in words
	Detail string

	Deploying     *api.DeploymentView
	Canary        *api.CanaryView // the rollout, while the deployment is a canary
	DeploySince   time.Time
	Failed        *pipeline.Deployment
	Lock          *api.LockView
	BakeVersion   string
	BakeStart     time.Time
	BakeEnd       time.Time
	BakePermille  int
	WindowVersion string
	WindowOpens   time.Time
	WindowZone    string
	WindowInZone  string

	Controls *envControls
}

// shortVersion shortens a version for display only when it is a commit SHA
// (at least 7 hexadecimal characters): it shows the first 7, as git does.
// Tags and other versions are never cut: demo-173716-1 and demo-173716-2
// must stay apart.
func shortVersion(v string) string {
	if len(v) <= 7 {
		return v
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return v
		}
	}
	return v[:7]
}

// cell works out how to show one environment.
func (h *Handler) cell(svc string, i int, envs []api.EnvironmentView, latest *pipeline.Deployment, now time.Time) envCell {
	ev := envs[i]
	c := envCell{Service: svc, Env: ev, Index: i, Last: i == len(envs)-1}
	if i > 0 {
		c.Lower = envs[i-1].Name
	}
	if ev.Version != nil {
		c.Short = shortVersion(*ev.Version)
	}
	if len(ev.Locks) > 0 {
		l := ev.Locks[0]
		c.Lock = &l
	}
	if latest != nil && (latest.State == pipeline.DeploymentFailed || latest.State == pipeline.DeploymentCancelled) {
		c.Failed = latest
	}
	switch ev.Waiting.Kind {
	case string(pipeline.WaitBake):
		if ev.Waiting.Until != nil {
			bake, err := time.ParseDuration(ev.Bake)
			c.BakeVersion = ev.Waiting.Version
			c.BakeEnd = *ev.Waiting.Until
			if err == nil && bake > 0 {
				c.BakeStart = c.BakeEnd.Add(-bake)
				// The read model's bake start, when the view lists it.
				for _, q := range ev.Releases {
					if q.Version == c.BakeVersion && q.BakeStarted != nil {
						c.BakeStart = *q.BakeStarted
					}
				}
				done := now.Sub(c.BakeStart)
				c.BakePermille = int(min(max(done*1000/bake, 0), 1000))
			}
		}
	case string(pipeline.WaitWindow):
		c.WindowVersion = ev.Waiting.Version
		if ev.Waiting.Until != nil {
			c.WindowOpens = *ev.Waiting.Until
		}
		if zone := h.zone(svc, ev.Name); zone != "" {
			c.WindowZone = zone
			if loc, err := time.LoadLocation(zone); err == nil && !c.WindowOpens.IsZero() {
				c.WindowInZone = c.WindowOpens.In(loc).Format("Mon 2 Jan 15:04") + " " + zone
			}
		}
		if c.WindowInZone == "" && !c.WindowOpens.IsZero() {
			c.WindowInZone = c.WindowOpens.UTC().Format("Mon 2 Jan 15:04") + " UTC"
		}
	}
	switch {
	case ev.Deployment != nil && ev.Canary != nil:
		// A canary deployment lasts its steps: its weight and step say
		// more than how long the deployment has run.
		c.Kind, c.Canary = "canary", ev.Canary
		if ev.Canary.State == string(pipeline.CanaryPromoting) {
			c.Label = "promoting (replacing stable)"
		} else {
			c.Label = fmt.Sprintf("canary at %d%%", ev.Canary.Weight)
			c.Detail = fmt.Sprintf("step %d of %d", ev.Canary.Step, max(ev.Canary.Steps, ev.Canary.Step))
		}
	case ev.Deployment != nil:
		c.Kind, c.Deploying = "deploying", ev.Deployment
		c.DeploySince = ev.Deployment.CreatedAt
		if ev.Deployment.StartedAt != nil {
			c.DeploySince = *ev.Deployment.StartedAt
		}
		c.Label = "deploying " + shortVersion(ev.Deployment.Version)
		if ev.Deployment.State == string(pipeline.DeploymentPending) {
			c.Label = "starting deploy of " + shortVersion(ev.Deployment.Version)
		}
		if ev.Deployment.Kind != pipeline.KindAuto {
			c.Detail = ev.Deployment.Kind + " by " + ev.Deployment.Actor
		}
	case ev.Locked:
		c.Kind, c.Label = "locked", "locked"
	case c.Failed != nil:
		c.Kind, c.Label = "failed", string(c.Failed.State)+": "+shortVersion(c.Failed.Version)
		c.Detail = c.Failed.Error
	case ev.Waiting.Kind == string(pipeline.WaitWindow):
		c.Kind, c.Label = "window", "waiting for window"
	case ev.Waiting.Kind == string(pipeline.WaitExposure):
		// Its bake time is over; the exposure gate waits for use below.
		c.Kind, c.Label = "baking", "waiting for use of "+shortVersion(ev.Waiting.Version)
		c.Detail = ev.Waiting.Message
		if ev.Exposure != nil && ev.Exposure.Problem != "" {
			c.Detail += "; " + ev.Exposure.Problem
		}
	case ev.Waiting.Kind == string(pipeline.WaitBake) && c.BakeVersion != "":
		c.Kind, c.Label = "baking", "baking "+shortVersion(c.BakeVersion)
		c.Detail = "in " + c.Lower
	case ev.Version == nil && (i == 0 || ev.Waiting.Kind != string(pipeline.WaitRelease)):
		c.Kind, c.Label = "idle", "no release yet"
	case ev.Waiting.Kind == string(pipeline.WaitNothing):
		c.Kind, c.Label = "ok", "up to date"
	case ev.Waiting.Kind == string(pipeline.WaitRelease):
		c.Kind, c.Label = "idle", "waiting for a release"
		if ev.Waiting.Version != "" {
			// A newer release is on its way: say which.
			c.Label = fmt.Sprintf("waiting for %s to reach %s", shortVersion(ev.Waiting.Version), c.Lower)
		} else if ev.Version == nil {
			c.Label = "no release yet"
		}
	default:
		c.Kind, c.Label = "idle", ev.Waiting.Message
	}
	return c
}

// row builds one service's row, fresh.
func (h *Handler) row(ctx context.Context, svc *config.Service) serviceRow {
	r, _, err := h.rowWithFingerprint(ctx, svc)
	if err != nil {
		return serviceRow{Name: svc.Name, Repository: svc.Repository, Err: err.Error()}
	}
	return r
}

// rowOf lays out a service's row from its view and newest deployments.
func (h *Handler) rowOf(svc *config.Service, view api.ServiceView, deps []pipeline.Deployment) serviceRow {
	r := serviceRow{Name: svc.Name, Repository: svc.Repository}
	if view.GitHub != nil {
		r.GitHub = view.GitHub.Message
	}
	latest := map[string]*pipeline.Deployment{}
	for i := range deps {
		if _, ok := latest[deps[i].Environment]; !ok {
			latest[deps[i].Environment] = &deps[i]
		}
	}
	now := h.e.Now()
	for i := range view.Environments {
		r.Envs = append(r.Envs, h.cell(svc.Name, i, view.Environments, latest[view.Environments[i].Name], now))
	}
	return r
}

func (h *Handler) services() []*config.Service {
	cfg := h.e.Config()
	out := make([]*config.Service, len(cfg.Services))
	for i := range cfg.Services {
		out[i] = &cfg.Services[i]
	}
	return out
}

// incidentEnv is one environment the incident lock can brake for every
// service.
type incidentEnv struct {
	Name     string
	Services int
	Locked   bool
	Lock     *bannerItem
	Lower    string
}

func (h *Handler) incidentEnvs(b bannerData) []incidentEnv {
	var out []incidentEnv
	idx := map[string]int{}
	for _, svc := range h.e.Config().Services {
		n := len(svc.Environments)
		name := svc.Environments[n-1].Name
		i, ok := idx[name]
		if !ok {
			i = len(out)
			idx[name] = i
			ie := incidentEnv{Name: name}
			if n > 1 {
				ie.Lower = svc.Environments[n-2].Name
			}
			out = append(out, ie)
		}
		out[i].Services++
	}
	for k := range b.Items {
		if it := &b.Items[k]; it.Global {
			if i, ok := idx[it.Environment]; ok {
				out[i].Locked, out[i].Lock = true, it
			}
		}
	}
	return out
}

func (ie incidentEnv) LockConfirm() string {
	s := fmt.Sprintf("Lock %s of every service (%d): no automatic promotion into %s will start anywhere until unlocked.", ie.Name, ie.Services, ie.Name)
	if ie.Lower != "" {
		s += " " + capitalize(ie.Lower) + " keeps deploying."
	}
	return s
}

func (ie incidentEnv) UnlockConfirm() string {
	return fmt.Sprintf("Unlock %s of every service: services without a lock of their own resume automatic promotion at once.", ie.Name)
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// joinNames lists names in prose: "a", "a and b", "a, b and c".
func joinNames(names []string) string {
	switch len(names) {
	case 0:
		return ""
	case 1:
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

// configIndex finds what the dashboard looks up per service of one
// configuration without a scan: at 10,000 services a scan of the list per
// change (config.Config.Service), and the banner's map of every service's
// last environment rebuilt per announcement, cost more than the rest of
// a change's handling.
type configIndex struct {
	cfg      *config.Config
	byName   map[string]*config.Service
	lastEnv  map[string]string // service → its last environment
	lastEnvs map[string]bool   // the names of every service's last environment
}

// index is the current configuration's index, built once per
// configuration.
func (h *Handler) index() *configIndex {
	cfg := h.e.Config()
	h.idxMu.Lock()
	defer h.idxMu.Unlock()
	if h.idx != nil && h.idx.cfg == cfg {
		return h.idx
	}
	idx := &configIndex{cfg: cfg, byName: map[string]*config.Service{}, lastEnv: map[string]string{}, lastEnvs: map[string]bool{}}
	if cfg != nil {
		for i := range cfg.Services {
			svc := &cfg.Services[i]
			idx.byName[svc.Name] = svc
			if n := len(svc.Environments); n > 0 {
				idx.lastEnv[svc.Name] = svc.Environments[n-1].Name
				idx.lastEnvs[svc.Environments[n-1].Name] = true
			}
		}
	}
	h.idx = idx
	return idx
}

// services are the configured services (none without a configuration).
func (idx *configIndex) services() []config.Service {
	if idx.cfg == nil {
		return nil
	}
	return idx.cfg.Services
}

// lookup is the configured service called name.
func (h *Handler) lookup(name string) (*config.Service, bool) {
	svc, ok := h.index().byName[name]
	return svc, ok
}
