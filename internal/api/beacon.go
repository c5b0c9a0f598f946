package api

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bakery-deploy/bakery/internal/engine"
	"github.com/bakery-deploy/bakery/internal/httpx"
	"github.com/bakery-deploy/bakery/internal/store"
)

// beaconPattern is the route the banner script sends its beacon to: one
// person (a random per-browser id) used the release a staging page runs.
const beaconPattern = "/api/v1/services/{service}/environments/{env}/beacon"

// BeaconTicketTTL is how long a beacon ticket from the banner is accepted:
// a beacon must come within this window of the banner read that issued
// it, and each ticket is taken once (replay protection).
const BeaconTicketTTL = 10 * time.Minute

// beaconClockSkew is how far in the future a ticket's time may be (another
// replica's clock).
const beaconClockSkew = time.Minute

// BeaconLimit and BeaconWindow bound beacons per client address: the
// banner credential is public in every page, so the count of people is a
// signal of honest use, and this limit keeps one address from inflating it.
const (
	BeaconLimit  = 20
	BeaconWindow = time.Minute
)

// maxNonces bounds the tickets remembered as taken; beyond it beacons are
// refused until old tickets expire (a flood never opens a replay).
const maxNonces = 1_000_000

// personPattern is a per-browser id: 16 to 64 hex digits, random, made by
// the banner script. Nothing personal fits in it.
var personPattern = regexp.MustCompile(`^[0-9a-f]{16,64}$`)

// BeaconTicket is what the banner gives the page for its beacon: bakery's
// signature over the service, environment, release, time and a nonce.
type BeaconTicket struct {
	Ticket string `json:"ticket"`
	// URL is the path the beacon is POSTed to.
	URL string `json:"url"`
}

// BeaconRequest is the body of POST .../beacon.
type BeaconRequest struct {
	Ticket string `json:"ticket"`
	// ID is the browser's random id (localStorage), 16-64 lowercase hex
	// digits; no personal data.
	ID string `json:"id"`
}

// BeaconResponse says the beacon was counted.
type BeaconResponse struct {
	Counted bool `json:"counted"`
}

// ticket is a ticket's signed content.
type ticket struct {
	service, env string
	release      int64
	issued       time.Time
	nonce        string
}

func (t ticket) payload() string {
	return strings.Join([]string{"v1", t.service, t.env, strconv.FormatInt(t.release, 10), strconv.FormatInt(t.issued.Unix(), 10), t.nonce}, "|")
}

func sign(key []byte, payload string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(payload))
	return m.Sum(nil)
}

// issueTicket signs a ticket for a beacon about release of service/env.
func issueTicket(key []byte, service, env string, release int64, now time.Time) (string, error) {
	n := make([]byte, 16)
	if _, err := rand.Read(n); err != nil {
		return "", fmt.Errorf("error making a beacon nonce: %w", err)
	}
	t := ticket{service: service, env: env, release: release, issued: now, nonce: hex.EncodeToString(n)}
	p := t.payload()
	return base64.RawURLEncoding.EncodeToString([]byte(p)) + "." + base64.RawURLEncoding.EncodeToString(sign(key, p)), nil
}

var errForged = errors.New("the ticket's signature does not match: it was not issued by this bakery, or was changed")

// verifyTicket checks s's signature and returns its content.
func verifyTicket(key []byte, s string) (ticket, error) {
	body, sig, ok := strings.Cut(s, ".")
	if !ok {
		return ticket{}, errors.New("a ticket is two base64url parts joined by a dot")
	}
	p, err1 := base64.RawURLEncoding.DecodeString(body)
	mac, err2 := base64.RawURLEncoding.DecodeString(sig)
	if err1 != nil || err2 != nil {
		return ticket{}, errors.New("a ticket is two base64url parts joined by a dot")
	}
	if !hmac.Equal(mac, sign(key, string(p))) {
		return ticket{}, errForged
	}
	f := strings.Split(string(p), "|")
	if len(f) != 6 || f[0] != "v1" {
		return ticket{}, errForged
	}
	rel, err1 := strconv.ParseInt(f[3], 10, 64)
	at, err2 := strconv.ParseInt(f[4], 10, 64)
	if err1 != nil || err2 != nil {
		return ticket{}, errForged
	}
	return ticket{service: f[1], env: f[2], release: rel, issued: time.Unix(at, 0), nonce: f[5]}, nil
}

// nonces remembers the tickets taken within their TTL.
type nonces struct {
	mu   sync.Mutex
	seen map[string]time.Time // nonce → when it expires
}

// take records nonce as used until expires; false if it was used already
// (a replay) or too many are remembered.
func (n *nonces) take(nonce string, expires, now time.Time) (ok bool, full bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.seen == nil {
		n.seen = map[string]time.Time{}
	}
	if _, used := n.seen[nonce]; used {
		return false, false
	}
	if len(n.seen) >= maxNonces {
		for k, exp := range n.seen {
			if !now.Before(exp) {
				delete(n.seen, k)
			}
		}
		if len(n.seen) >= maxNonces {
			return false, true
		}
	}
	n.seen[nonce] = expires
	return true, false
}

// beaconTicket is the ticket the banner of service/env hands out now, or
// nil when no exposure gate counts people there or nothing runs there.
func (s *Server) beaconTicket(ctx context.Context, service, env string, release int64) (*BeaconTicket, error) {
	key, err := s.e.BeaconKey(ctx)
	if err != nil {
		return nil, err
	}
	t, err := issueTicket(key, service, env, release, s.e.Now())
	if err != nil {
		return nil, err
	}
	return &BeaconTicket{Ticket: t, URL: "/api/v1/services/" + service + "/environments/" + env + "/beacon"}, nil
}

func (s *Server) beacon(w http.ResponseWriter, r *http.Request, _ *store.Token) error {
	ip := httpx.ClientIP(r)
	if after, blocked := s.beaconLimiter.Blocked(ip); blocked {
		w.Header().Set("Retry-After", strconv.Itoa(httpx.RetryAfterSeconds(after)))
		return &Error{Status: http.StatusTooManyRequests, Message: "too many beacons",
			Detail: fmt.Sprintf("at most %d beacons a %s from one address", BeaconLimit, BeaconWindow)}
	}
	s.beaconLimiter.Fail(ip) // every beacon counts towards the limit
	var req BeaconRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if !personPattern.MatchString(req.ID) {
		return &Error{Status: http.StatusBadRequest, Message: "invalid id",
			Detail: "id is the browser's random id: 16 to 64 lowercase hex digits (the banner script makes one with crypto.getRandomValues)"}
	}
	key, err := s.e.BeaconKey(r.Context())
	if err != nil {
		return err
	}
	t, err := verifyTicket(key, req.Ticket)
	if err != nil {
		s.log.Warn("beacon refused", "client", ip, "reason", err.Error())
		return &Error{Status: http.StatusForbidden, Message: "invalid beacon ticket", Detail: err.Error() + "; read the banner again for a fresh ticket"}
	}
	service, env := r.PathValue("service"), r.PathValue("env")
	if t.service != service || t.env != env {
		return &Error{Status: http.StatusForbidden, Message: "invalid beacon ticket",
			Detail: fmt.Sprintf("the ticket is for %s/%s, not %s/%s", t.service, t.env, service, env)}
	}
	now := s.e.Now()
	switch {
	case now.Sub(t.issued) > BeaconTicketTTL:
		return &Error{Status: http.StatusForbidden, Message: "expired beacon ticket",
			Detail: fmt.Sprintf("the ticket was issued at %s; tickets are taken within %s; read the banner again", t.issued.UTC().Format(time.RFC3339), BeaconTicketTTL)}
	case t.issued.Sub(now) > beaconClockSkew:
		return &Error{Status: http.StatusForbidden, Message: "invalid beacon ticket", Detail: "the ticket's time is in the future"}
	}
	ok, full := s.beaconNonces.take(t.nonce, t.issued.Add(BeaconTicketTTL+beaconClockSkew), now)
	if full {
		return &Error{Status: http.StatusServiceUnavailable, Message: "too many beacons", Detail: "try again in a minute"}
	}
	if !ok {
		return &Error{Status: http.StatusConflict, Message: "beacon ticket used already",
			Detail: "each ticket counts once (replay protection); read the banner again for a fresh ticket"}
	}
	if err := s.e.Beacon(r.Context(), service, env, t.release, req.ID); err != nil {
		if errors.Is(err, engine.ErrNoPeopleGate) {
			return &Error{Status: http.StatusNotFound, Message: "no exposure gate counts people here", Detail: err.Error()}
		}
		if errors.Is(err, engine.ErrTooManyBeacons) {
			return &Error{Status: http.StatusServiceUnavailable, Message: "too many beacons", Detail: err.Error()}
		}
		return err
	}
	writeJSON(w, http.StatusAccepted, BeaconResponse{Counted: true})
	return nil
}

// beaconPreflight answers the browser's CORS preflight for the beacon.
func beaconPreflight(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Access-Control-Allow-Origin", "*")
	w.Header().Set("Access-Control-Allow-Methods", "POST")
	w.Header().Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
	w.Header().Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
}

// shortVersion is a commit SHA's first 7 characters, any other version as
// it is.
func shortVersion(v string) string {
	if len(v) == 40 && strings.Trim(v, "0123456789abcdef") == "" {
		return v[:7]
	}
	return v
}

// exposureProblems says, on each exposure gate whose requests the router
// below counts, when that router is not serving in this process: its
// requests are not counted, and the gate waits (rule 9).
func (s *Server) exposureProblems(v *ServiceView) {
	for i := 1; i < len(v.Environments); i++ {
		x := v.Environments[i].Exposure
		if x == nil {
			continue
		}
		if err := s.e.RouterError(v.Service, x.Environment); err != nil {
			x.Problem = fmt.Sprintf("the router in front of %s is not serving (%s): its requests are not counted, and the gate waits", x.Environment, err.Error())
		}
	}
}
