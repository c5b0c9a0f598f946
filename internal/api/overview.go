package api

import (
	"html/template"
	"net"
	"net/http"
	"time"
)

// overview is a read-only page of every service's environments, refreshed
// every few seconds. It needs no token but is served only to clients on
// the same machine; the full dashboard with sign-in replaces it.
func (s *Server) overview(w http.ResponseWriter, r *http.Request) {
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		writeError(w, &Error{Status: http.StatusForbidden, Message: "the overview page is served to this machine only",
			Detail: "use the API with a token, e.g. 'bakery status'"})
		return
	}
	var services []ServiceView
	for _, svc := range s.e.Config().Services {
		cfgSvc, d, err := s.e.Status(r.Context(), svc.Name)
		if err != nil {
			writeError(w, toAPIError(err))
			return
		}
		services = append(services, serviceView(cfgSvc, d, s.e.Now()))
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := overviewTmpl.Execute(w, map[string]any{"Services": services, "Now": s.e.Now()}); err != nil {
		s.log.Error("error rendering overview", "error", err)
	}
}

var overviewTmpl = template.Must(template.New("overview").Funcs(template.FuncMap{
	"ago": func(t *time.Time, now time.Time) string {
		if t == nil {
			return ""
		}
		return now.Sub(*t).Round(time.Second).String() + " ago"
	},
	"left": func(t *time.Time, now time.Time) string {
		if t == nil {
			return ""
		}
		d := t.Sub(now).Round(time.Second)
		if d < 0 {
			d = 0
		}
		return d.String()
	},
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="2"><title>bakery</title>
<style>
:root{color-scheme:light dark;font-family:system-ui,sans-serif}
body{max-width:60rem;margin:2rem auto;padding:0 1rem}
table{border-collapse:collapse;width:100%;margin-bottom:2rem}
th,td{text-align:left;padding:.4rem .6rem;border-bottom:1px solid #8884}
.deploying{color:#b58900}.waiting{color:#268bd2}.idle{color:#2aa198}
code{font-size:1.05em}
</style></head><body>
<h1>bakery</h1>
<p>Read-only overview, refreshed every 2 seconds. Use <code>bakery status</code>, <code>bakery watch</code> and <code>bakery history</code> for more.</p>
{{range .Services}}{{$svc := .}}
<h2>{{.Service}}</h2>
<table><thead><tr><th>environment</th><th>version</th><th>since</th><th>state</th><th>next promotion</th></tr></thead><tbody>
{{range .Environments}}<tr>
<td>{{.Name}}</td>
<td>{{if .Version}}{{if .CommitURL}}<a href="{{.CommitURL}}"><code>{{.Version}}</code></a>{{else}}<code>{{.Version}}</code>{{end}}{{else}}—{{end}}</td>
<td>{{ago .Since $.Now}}</td>
<td class="{{.State}}">{{.State}}{{if .Deployment}} {{.Deployment.Version}}{{end}}</td>
<td>{{.Waiting.Message}}{{if .Waiting.Until}} ({{left .Waiting.Until $.Now}} left){{end}}</td>
</tr>{{end}}
</tbody></table>
{{else}}<p>No services configured.</p>{{end}}
</body></html>`))
