package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/bakery-deploy/bakery/internal/config"
	"github.com/bakery-deploy/bakery/internal/pipeline"
	"github.com/bakery-deploy/bakery/internal/store"
)

// sendSlack carries one event to a Slack channel: the release's message,
// posted once and then updated in place (chat.update) as the release
// travels, and replies in its thread for what people must hear of:
// failures and locks also go to the channel (reply_broadcast), aborts,
// rollbacks and emergencies stay in the thread, and a release reaching
// the last environment mentions its author.
func (n *Notifier) sendSlack(ctx context.Context, cfg *config.Config, dest config.Notification, b Body) error {
	c, err := n.slackClient()
	if err != nil {
		return err
	}
	d := b.Data
	svc, ok := cfg.Service(d.Service)
	var thread *store.SlackMessage
	if ok && d.Version != "" {
		m, err := n.releaseMessage(ctx, c, cfg, dest, svc, d.Version, d.EventID, b.Timestamp)
		switch {
		case errors.Is(err, store.ErrNotFound):
			// No release by that version (a rollback's target named by
			// hand, say): the reply goes to the channel.
		case err != nil:
			return err
		default:
			thread = &m
		}
	} else if ok {
		// An event about the service, not a release (a lock, a check):
		// its newest release's thread, if bakery posted one.
		rels, err := n.e.Store().ReleaseList(ctx, &store.ReleaseListParams{Service: svc.Name, Limit: 1})
		if err != nil {
			return err
		}
		if len(rels) > 0 {
			m, err := n.e.Store().SlackMessageGet(ctx, dest.Name, svc.Name, rels[0].Version)
			if err == nil {
				thread = &m
			} else if !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
	}
	text, broadcast := n.replyText(ctx, cfg, svc, b)
	if text == "" {
		return nil
	}
	msg := map[string]any{"channel": dest.Slack.Channel, "text": text, "unfurl_links": false}
	if thread != nil {
		msg["channel"], msg["thread_ts"] = thread.Channel, thread.TS
		if broadcast {
			msg["reply_broadcast"] = true
		}
	}
	_, err = c.Call(ctx, "chat.postMessage", msg)
	return err
}

// releaseMessage posts the release's message, or updates it, and returns
// it.
func (n *Notifier) releaseMessage(ctx context.Context, c *SlackClient, cfg *config.Config, dest config.Notification, svc *config.Service, version string, upTo int64, asOf time.Time) (store.SlackMessage, error) {
	st := n.e.Store()
	text, blocks, err := n.releaseText(ctx, cfg, svc, version, upTo, asOf)
	if err != nil {
		return store.SlackMessage{}, err
	}
	m, err := st.SlackMessageGet(ctx, dest.Name, svc.Name, version)
	switch {
	case errors.Is(err, store.ErrNotFound):
		a, err := c.Call(ctx, "chat.postMessage", map[string]any{"channel": dest.Slack.Channel, "text": text, "blocks": blocks, "unfurl_links": false})
		if err != nil {
			return m, err
		}
		m = store.SlackMessage{Destination: dest.Name, Service: svc.Name, Version: version, Channel: a.Channel, TS: a.TS}
		if m.Channel == "" {
			m.Channel = dest.Slack.Channel
		}
		err = st.InTx(ctx, func(ctx context.Context, tx store.Tx) error { return tx.SlackMessagePut(ctx, &m) })
		return m, err
	case err != nil:
		return m, err
	}
	_, err = c.Call(ctx, "chat.update", map[string]any{"channel": m.Channel, "ts": m.TS, "text": text, "blocks": blocks})
	return m, err
}

// ReleaseLine is the travel of a release through its environments as the
// release's Slack message shows it, e.g. "staging ✓ — baking 23/60 min —
// canary 25 % — production ✓", as the event log told it up to event
// upTo (at asOf): a message sent late still tells each stage in turn.
// It reads the service's events of the last releaseWindow IDs.
func (n *Notifier) ReleaseLine(ctx context.Context, svc *config.Service, rel pipeline.Release, upTo int64, asOf time.Time) (string, error) {
	type stage struct {
		text string
		done time.Time // when it succeeded
	}
	stages := map[string]stage{}
	after := max(upTo-releaseWindow, 0)
	for {
		evs, err := n.e.Store().EventList(ctx, &store.EventListParams{Service: svc.Name, AfterID: after, Limit: 1000})
		if err != nil {
			return "", err
		}
		for _, ev := range evs {
			if ev.ID > upTo {
				break
			}
			if ev.Version != rel.Version || ev.Service != svc.Name {
				continue
			}
			switch ev.Type {
			case pipeline.EventPromotionDecided, pipeline.EventDeploymentStarted, pipeline.EventDeploymentRecovered, pipeline.EventDeploymentRetryPlanned:
				stages[ev.Environment] = stage{text: ev.Environment + " deploying…"}
			case pipeline.EventCanaryStarted, pipeline.EventCanaryAdvanced:
				if w, ok := ev.Data["weight"]; ok {
					stages[ev.Environment] = stage{text: fmt.Sprintf("canary %v %%", w)}
				}
			case pipeline.EventCanaryPromoting:
				stages[ev.Environment] = stage{text: "canary promoting…"}
			case pipeline.EventCanaryAborted:
				stages[ev.Environment] = stage{text: ev.Environment + " canary aborted"}
			case pipeline.EventDeploymentSucceeded:
				stages[ev.Environment] = stage{text: ev.Environment + " ✓", done: ev.At}
			case pipeline.EventDeploymentFailed, pipeline.EventDeploymentInterrupted:
				stages[ev.Environment] = stage{text: ev.Environment + " ✗"}
			case pipeline.EventDeploymentCancels:
				stages[ev.Environment] = stage{text: ev.Environment + " cancelled"}
			}
		}
		if len(evs) < 1000 || evs[len(evs)-1].ID >= upTo {
			break
		}
		after = evs[len(evs)-1].ID
	}
	var parts []string
	var prevDone time.Time
	for i, env := range svc.Environments {
		st, ok := stages[env.Name]
		switch {
		case ok:
			parts = append(parts, st.text)
		case i > 0 && !prevDone.IsZero() && env.Bake > 0:
			baked := min(max(asOf.Sub(prevDone), 0), env.Bake)
			parts = append(parts, fmt.Sprintf("baking %d/%d min", int(baked.Minutes()), int(env.Bake.Minutes())))
		default:
			parts = append(parts, env.Name+" (waiting)")
		}
		prevDone = st.done
	}
	return strings.Join(parts, " — "), nil
}

// releaseWindow is how far back (in event IDs) a release's events are
// looked for when its message is drawn.
const releaseWindow = 20000

// releaseText is the release message's text and blocks (with the buttons).
func (n *Notifier) releaseText(ctx context.Context, cfg *config.Config, svc *config.Service, version string, upTo int64, asOf time.Time) (string, []any, error) {
	rel, err := n.e.Store().ReleaseGet(ctx, svc.Name, version)
	if err != nil {
		return "", nil, err
	}
	line, err := n.ReleaseLine(ctx, svc, rel, upTo, asOf)
	if err != nil {
		return "", nil, err
	}
	head := fmt.Sprintf("*%s* `%s`", svc.Name, slackEscape(version))
	if rel.Message != "" {
		head += " " + slackEscape(firstLine(rel.Message))
	}
	if rel.Author != "" {
		head += " — " + slackEscape(rel.Author)
	}
	links := fmt.Sprintf("<%s/services/%s|dashboard>", cfg.Server.URL, svc.Name)
	if svc.Repository != "" {
		links += fmt.Sprintf(" · <%s/commit/%s|commit>", strings.TrimRight(svc.Repository, "/"), version)
	}
	text := head + "\n" + line + "\n" + links
	last := svc.Environments[len(svc.Environments)-1].Name
	button := func(label, action string) map[string]any {
		v, _ := json.Marshal(ButtonValue{Service: svc.Name, Environment: last, Version: version})
		return map[string]any{"type": "button", "text": map[string]any{"type": "plain_text", "text": label}, "action_id": action, "value": string(v)}
	}
	blocks := []any{
		map[string]any{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": text}},
		map[string]any{"type": "actions", "elements": []any{
			button("Lock "+last, ActionLock), button("Unlock", ActionUnlock), button("Skip bake", ActionSkipBake), button("Roll back", ActionRollback)}},
	}
	return text, blocks, nil
}

// replyText is what an event says in the thread (or channel), and whether
// it is also broadcast to the channel; "" for events the release message
// itself shows.
func (n *Notifier) replyText(ctx context.Context, cfg *config.Config, svc *config.Service, b Body) (string, bool) {
	d := b.Data
	who := slackEscape(d.Actor)
	why := ""
	if d.Reason != "" {
		why = ": " + slackEscape(d.Reason)
	}
	where := slackEscape(d.Service) + " " + slackEscape(d.Environment)
	if d.Service == pipeline.AllServices {
		where = "every service's " + slackEscape(d.Environment)
		if sel, _ := d.Details["selector"].(string); sel != "" {
			where = "the services matching " + slackEscape(sel) + " in " + slackEscape(d.Environment)
		}
	}
	switch b.Type {
	case pipeline.EventDeploymentFailed, pipeline.EventDeploymentInterrupted:
		return fmt.Sprintf(":x: %s `%s` failed in %s%s", slackEscape(d.Service), slackEscape(d.Version), slackEscape(d.Environment), why), true
	case pipeline.EventCheckFailed:
		return fmt.Sprintf(":x: check failed in %s%s", where, why), true
	case pipeline.EventLockPlaced:
		return fmt.Sprintf(":lock: %s locked by %s%s", where, who, why), true
	case pipeline.EventLockReleased:
		return fmt.Sprintf(":unlock: %s unlocked by %s%s", where, who, why), false
	case pipeline.EventLockExpired:
		return fmt.Sprintf(":unlock: the lock of %s expired", where), false
	case pipeline.EventCanaryAborted:
		return fmt.Sprintf(":warning: canary of `%s` aborted in %s%s", slackEscape(d.Version), slackEscape(d.Environment), why), false
	case pipeline.EventRollbackDecided:
		return fmt.Sprintf(":rewind: %s rolled back to `%s` by %s%s", where, slackEscape(d.ToVersion), who, why), false
	case pipeline.EventEmergencyDecided:
		return fmt.Sprintf(":rotating_light: emergency deploy of `%s` to %s by %s%s", slackEscape(d.Version), where, who, why), false
	case EventPileUp:
		return fmt.Sprintf(":lock: %s is still locked by %s (%v)%s — %v release(s) have piled up behind it", where, who,
			d.Details["held_for"], why, d.Details["pile_up"]), false
	case pipeline.EventBisectStarted:
		return fmt.Sprintf(":mag: bisect of %s started in %s by %s%s", slackEscape(d.Service), slackEscape(d.Environment), who, why), false
	case pipeline.EventBisectCulprit:
		// The culprit's author is told: the bisect answers "whose change
		// was it" after a long lock.
		author := ""
		if rel, err := n.e.Store().ReleaseGet(ctx, d.Service, d.Version); err == nil {
			author = mention(cfg, rel.Author)
		}
		return fmt.Sprintf(":mag: bisect of %s found the culprit `%s` in %s%s — rejected%s", slackEscape(d.Service), slackEscape(d.Version),
			slackEscape(d.Environment), why, author), true
	case pipeline.EventBisectStuck, pipeline.EventBisectCancelled:
		return fmt.Sprintf(":mag: bisect of %s ended without a culprit%s", slackEscape(d.Service), why), false
	case pipeline.EventDeploymentSucceeded:
		if svc != nil && d.Environment == svc.Environments[len(svc.Environments)-1].Name {
			rel, err := n.e.Store().ReleaseGet(ctx, svc.Name, d.Version)
			if err != nil {
				return fmt.Sprintf(":white_check_mark: `%s` is in %s", slackEscape(d.Version), slackEscape(d.Environment)), false
			}
			return fmt.Sprintf(":white_check_mark: `%s` is in %s%s", slackEscape(d.Version), slackEscape(d.Environment), mention(cfg, rel.Author)), false
		}
	}
	return "", false
}

// mention names a release's author for Slack: <@U…> when the users map
// knows the name (a GitHub login or an author name), the name otherwise.
func mention(cfg *config.Config, author string) string {
	if author == "" {
		return ""
	}
	if cfg.Slack != nil {
		ids := make([]string, 0, len(cfg.Slack.Users))
		for id, name := range cfg.Slack.Users {
			if strings.EqualFold(name, author) {
				ids = append(ids, id)
			}
		}
		sort.Strings(ids)
		if len(ids) > 0 {
			return " — <@" + ids[0] + ">"
		}
	}
	return " — " + slackEscape(author)
}

// slackEscape escapes the three characters Slack's mrkdwn treats as
// control characters.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 120 {
		s = s[:120] + "…"
	}
	return s
}
