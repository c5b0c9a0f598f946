package web

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bakery-deploy/bakery/internal/engine"
)

// TestHubWatchNarrowsSubscription: a subscription that watches some
// services is handed their changes one by one; a change of any other
// only sets TakeOthers. Watched follows the open views, and Close takes a
// view back.
func TestHubWatchNarrowsSubscription(t *testing.T) {
	t.Parallel()
	h := NewHub()
	defer h.Close()
	s := h.Subscribe()
	require.True(t, h.Watched("web"), "a subscription without a view watches every service")
	s.Watch([]string{"api"})
	require.False(t, h.Watched("web"))
	require.True(t, h.Watched("api"))

	h.Notify("web")
	<-s.Ready()
	got, seq := s.Take()
	require.Empty(t, got, "a service outside the view is not handed out")
	require.Equal(t, uint64(1), seq, "but its announcement's number is")
	require.True(t, s.TakeOthers())
	require.False(t, s.TakeOthers(), "TakeOthers forgets")

	h.Notify("api")
	require.Equal(t, []string{"api"}, next(t, s))
	require.False(t, s.TakeOthers())

	other := h.SubscribeView([]string{"api", "db", "db"})
	require.True(t, h.Watched("db"))
	other.Close()
	require.False(t, h.Watched("db"), "a closed subscription's view is forgotten")
	require.True(t, h.Watched("api"), "another subscription still shows it")
	s.Close()
	s.Close() // twice is harmless
	require.False(t, h.Watched("api"))
	require.Zero(t, h.Subscribers())
}

// TestFilterRendersOnlyWatchedRows: with a page open that shows only api,
// a change of web is announced without rendering web's row, and a change
// of api renders api's.
func TestFilterRendersOnlyWatchedRows(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	sub := f.hub.SubscribeView([]string{"api"})
	defer sub.Close()
	ctx := context.Background()
	f.h.cache.mu.Lock()
	delete(f.h.cache.rows, "web") // rendered while the fixture started, perhaps
	f.h.cache.mu.Unlock()
	require.True(t, f.h.changed(ctx, "web"), "an unwatched change is passed on")
	require.True(t, f.h.changed(ctx, "api"))
	f.h.cache.mu.Lock()
	_, webRendered := f.h.cache.rows["web"]
	_, apiRendered := f.h.cache.rows["api"]
	f.h.cache.mu.Unlock()
	require.False(t, webRendered, "no page shows web: its row is not rendered")
	require.True(t, apiRendered, "a page shows api: its row is rendered")
	require.False(t, f.h.changed(ctx, "api"), "an unchanged watched row is not announced again")
}

// sseEvent is one server-sent event.
type sseEvent struct{ name, data string }

// openStream opens /ui/events?query and sends its events on a channel.
func openStream(t *testing.T, f *fixture, c *http.Client, query string) <-chan sseEvent {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, "GET", f.srv.URL+"/ui/events?"+query, nil)
	require.NoError(t, err)
	resp, err := c.Do(req)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	out := make(chan sseEvent, 100)
	go func() {
		defer resp.Body.Close()
		defer close(out)
		sc := bufio.NewScanner(resp.Body)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				ev.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				ev.data = strings.TrimPrefix(line, "data: ")
			case line == "" && ev.name != "":
				out <- ev
				ev = sseEvent{}
			}
		}
	}()
	return out
}

// TestStreamFeedsItsView: an overview stream filtered to team=payments
// (api only) hears of api's changes one by one; web's lock reaches it
// only as a list event with the new counts and banner, never as web's
// row. A service page's stream hears only of its service.
func TestStreamFeedsItsView(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := f.client()
	f.signIn(c, "eye")
	overview := openStream(t, f, c, "view=overview&selector=team%3Dfrontend")
	servicePage := openStream(t, f, c, "view=service&service=api")
	require.Eventually(t, func() bool { return f.hub.Subscribers() == 2 }, 5*time.Second, 10*time.Millisecond)
	require.True(t, f.hub.Watched("web"))
	require.True(t, f.hub.Watched("api"))

	_, err := f.e.Lock(context.Background(), "test", engine.LockParams{Service: "web", Environment: "production", Reason: "x"})
	require.NoError(t, err)
	wait := func(ch <-chan sseEvent, name string) sseEvent {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			select {
			case ev, ok := <-ch:
				require.True(t, ok, "the stream ended")
				if ev.name == name {
					return ev
				}
			case <-deadline:
				t.Fatalf("no %s event within 10s", name)
			}
		}
	}
	ev := wait(overview, "change")
	require.JSONEq(t, `"web"`, mustField(t, ev.data, "service"))
	list := wait(overview, "list")
	var ld listData
	require.NoError(t, json.Unmarshal([]byte(list.data), &ld))
	require.Equal(t, 1, ld.Counts["locked"], "the counts moved: %s", list.data)
	require.NotEmpty(t, ld.Banner)

	// The service page of api hears of web's lock only as the banner.
	ev = wait(servicePage, "list")
	require.NotContains(t, ev.data, `"counts"`)
	select {
	case ev := <-servicePage:
		require.NotEqual(t, "change", ev.name, "web's change reached api's page: %s", ev.data)
	case <-time.After(300 * time.Millisecond):
	}
	_, err = f.e.Lock(context.Background(), "test", engine.LockParams{Service: "api", Environment: "production", Reason: "y"})
	require.NoError(t, err)
	ev = wait(servicePage, "change")
	require.JSONEq(t, `"api"`, mustField(t, ev.data, "service"))
}

func mustField(t *testing.T, data, field string) string {
	t.Helper()
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal([]byte(data), &m), data)
	return string(m[field])
}

// TestSharedListReading: streams showing the same filter share one
// reading of the list when it started after what they were told of; a
// stream told of a later announcement reads again, and another filter has
// its own reading.
func TestSharedListReading(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	all := overviewFilter{Page: 1}
	seq := f.hub.Seq()
	first := f.h.sharedList(ctx, all, seq)
	require.Equal(t, int64(1), f.h.listReads.Load())
	again := f.h.sharedList(ctx, all, seq)
	require.Equal(t, int64(1), f.h.listReads.Load(), "a stream told of nothing newer shares the reading")
	require.Equal(t, serviceNames(first.Services), serviceNames(again.Services))

	_, err := f.e.Lock(ctx, "test", engine.LockParams{Service: "api", Environment: "production", Reason: "x"})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return f.hub.Seq() > seq }, 5*time.Second, 10*time.Millisecond)
	fresh := f.h.sharedList(ctx, all, f.hub.Seq())
	require.Equal(t, int64(2), f.h.listReads.Load(), "told of a newer announcement, the stream reads again")
	counts := countsOf(fresh).Counts
	require.Equal(t, 1, counts["locked"], "and sees it")

	f.h.sharedList(ctx, overviewFilter{Page: 1, State: "locked"}, 0)
	require.Equal(t, int64(3), f.h.listReads.Load(), "another filter reads for itself")
}

func TestNextListCheckIsOnTheSecond(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 2, 1, 0, 0, 300_000_000, time.UTC)
	require.Equal(t, now.Truncate(time.Second).Add(time.Second), nextListCheck(now, time.Time{}))
	last := now.Add(400 * time.Millisecond) // checked 0.3 s before the next second: wait one more
	require.Equal(t, now.Truncate(time.Second).Add(2*time.Second), nextListCheck(last, last))
}
