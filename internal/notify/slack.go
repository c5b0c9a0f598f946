package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// SlackClient calls Slack's Web API: JSON bodies, the bot token as
// "Authorization: Bearer", answers {"ok": true, ...} or {"ok": false,
// "error": "..."}; HTTP 429 with Retry-After (seconds) when rate limited,
// after which the call is made again.
type SlackClient struct {
	BaseURL string // e.g. https://slack.com/api
	Token   string
	HTTP    *http.Client
	// MaxWait bounds one Retry-After wait (default 30 s); a longer one is
	// an error, left to the drain job's back-off.
	MaxWait time.Duration
}

// SlackAnswer is the part of Slack's answers bakery reads.
type SlackAnswer struct {
	OK      bool   `json:"ok"`
	Error   string `json:"error"`
	TS      string `json:"ts"`
	Channel string `json:"channel"`
}

// SlackError is a call Slack refused.
type SlackError struct {
	Method, Code string
}

func (e *SlackError) Error() string { return "Slack " + e.Method + ": " + e.Code }

// Call posts body (JSON) to method, e.g. chat.postMessage.
func (c *SlackClient) Call(ctx context.Context, method string, body any) (SlackAnswer, error) {
	data, err := json.Marshal(body)
	if err != nil {
		return SlackAnswer{}, err
	}
	maxWait := c.MaxWait
	if maxWait <= 0 {
		maxWait = 30 * time.Second
	}
	for try := 0; ; try++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.BaseURL+"/"+method, bytes.NewReader(data))
		if err != nil {
			return SlackAnswer{}, err
		}
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
		req.Header.Set("Authorization", "Bearer "+c.Token)
		resp, err := c.HTTP.Do(req)
		if err != nil {
			return SlackAnswer{}, fmt.Errorf("Slack %s: %w", method, err)
		}
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		_ = resp.Body.Close()
		if resp.StatusCode == http.StatusTooManyRequests {
			wait, err := strconv.Atoi(resp.Header.Get("Retry-After"))
			if err != nil || wait < 0 {
				wait = 1
			}
			d := time.Duration(wait) * time.Second
			if d > maxWait || try >= 5 {
				return SlackAnswer{}, &SlackError{Method: method, Code: "ratelimited (Retry-After " + strconv.Itoa(wait) + "s)"}
			}
			select {
			case <-ctx.Done():
				return SlackAnswer{}, ctx.Err()
			case <-time.After(d):
			}
			continue
		}
		if resp.StatusCode != http.StatusOK {
			return SlackAnswer{}, fmt.Errorf("Slack %s answered %s", method, resp.Status)
		}
		var a SlackAnswer
		if err := json.Unmarshal(raw, &a); err != nil {
			return SlackAnswer{}, fmt.Errorf("Slack %s: unreadable answer: %w", method, err)
		}
		if !a.OK {
			return a, &SlackError{Method: method, Code: a.Error}
		}
		return a, nil
	}
}

func (n *Notifier) slackClient() (*SlackClient, error) {
	cfg := n.e.Config()
	if cfg.Slack == nil {
		return nil, fmt.Errorf("the configuration has no slack block")
	}
	tok := n.opts.Getenv(cfg.Slack.BotTokenEnv)
	if tok == "" {
		return nil, fmt.Errorf("%s (the Slack bot token) is empty or unset", cfg.Slack.BotTokenEnv)
	}
	return &SlackClient{BaseURL: cfg.Slack.APIURL, Token: tok, HTTP: n.http}, nil
}
