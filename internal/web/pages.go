package web

import (
	"fmt"
	"html/template"
	"io/fs"
	"regexp"
	"strings"
	"time"
)

// pages are the parsed template sets, one per page; fragments are
// templates within them.
type pages struct {
	overview  *template.Template
	service   *template.Template
	signin    *template.Template
	errorPage *template.Template
	insights  *template.Template
	// notifications is the deliveries page (notifications.go).
	notifications *template.Template
}

// layoutSpace is a line break and the indentation after it.
var layoutSpace = regexp.MustCompile(`\n[ \t]*`)

func parsePages(funcs template.FuncMap) *pages {
	parts, err := fs.ReadFile(templateFS, "templates/parts.html")
	if err != nil {
		panic(err)
	}
	compact := layoutSpace.ReplaceAllString(string(parts), " ")
	set := func(files ...string) *template.Template {
		t := template.Must(template.New("").Funcs(funcs).Parse(compact))
		paths := []string{"templates/layout.html"}
		for _, f := range files {
			paths = append(paths, "templates/"+f)
		}
		return template.Must(t.ParseFS(templateFS, paths...))
	}
	return &pages{
		overview:      set("overview.html"),
		service:       set("service.html"),
		signin:        set("signin.html"),
		errorPage:     set("error.html"),
		insights:      set("insights.html"),
		notifications: set("notifications.html"),
	}
}

func (h *Handler) funcs() template.FuncMap {
	return template.FuncMap{
		"short": shortVersion,
		"deref": func(s *string) string {
			if s == nil {
				return ""
			}
			return *s
		},
		"iso": func(t any) string {
			tt := timeOf(t)
			if tt.IsZero() {
				return ""
			}
			return tt.UTC().Format(time.RFC3339)
		},
		"abs": func(t any) string {
			tt := timeOf(t)
			if tt.IsZero() {
				return ""
			}
			return tt.UTC().Format("2006-01-02 15:04:05 UTC")
		},
		"ago": func(t any) string {
			tt := timeOf(t)
			if tt.IsZero() {
				return ""
			}
			return humanDuration(h.e.Now().Sub(tt)) + " ago"
		},
		"left": func(t time.Time) string {
			d := t.Sub(h.e.Now())
			if d <= 0 {
				return "done"
			}
			return humanDuration(d) + " left"
		},
		// leftOr is the time left until t, or done once it has passed.
		"leftOr": func(t any, done string) string {
			d := timeOf(t).Sub(h.e.Now())
			if d <= 0 {
				return done
			}
			return humanDuration(d) + " left"
		},
		"elapsed": func(t time.Time) string { return clockDuration(h.e.Now().Sub(t)) },
		"dur":     humanDuration,
		"sdur":    shortDur,
		"took": func(d time.Duration) string {
			if d < time.Second {
				return fmt.Sprintf("%d ms", d.Milliseconds())
			}
			return humanDuration(d)
		},
		"plural": func(n int, one, many string) string {
			if n == 1 {
				return fmt.Sprintf("%d %s", n, one)
			}
			return fmt.Sprintf("%d %s", n, many)
		},
		"asset": func(assets map[string]string, name string) string { return "/static/" + name + "?v=" + assets[name] },
		"title": capitalize,
		// secs is a number of seconds for people (the insights' figures).
		"secs":  func(sec float64) string { return humanDuration(time.Duration(sec * float64(time.Second))) },
		"pct":   func(f float64) float64 { return 100 * f },
		"lines": func(s string) int { return strings.Count(strings.TrimRight(s, "\n"), "\n") + 1 },
	}
}

func timeOf(v any) time.Time {
	switch t := v.(type) {
	case time.Time:
		return t
	case *time.Time:
		if t != nil {
			return *t
		}
	}
	return time.Time{}
}

// humanDuration is a duration for people: "45s", "3m 05s", "2h 10m",
// "3d 4h".
func humanDuration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	s := int64(d.Round(time.Second) / time.Second)
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm %02ds", s/60, s%60)
	case s < 86400:
		return fmt.Sprintf("%dh %02dm", s/3600, (s%3600)/60)
	}
	return fmt.Sprintf("%dd %dh", s/86400, (s%86400)/3600)
}

// clockDuration is an elapsed time as a clock: "0:07", "12:30", "1:02:03".
func clockDuration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	s := int64(d / time.Second)
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, (s%3600)/60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}
