package cli

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bakery-deploy/bakery/internal/api"
)

func TestTermSafe(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"checkout errors since 3f2c1ab", "checkout errors since 3f2c1ab"},
		{"Jürgen → 日本 🚀 ü", "Jürgen → 日本 🚀 ü"},
		{"\x1b]0;pwned\a\x1b[2J", `\x1b]0;pwned\x07\x1b[2J`},
		{"two\nlines\tand\rcr", `two\x0alines\x09and\x0dcr`},
		{"del\x7f nul\x00", `del\x7f nul\x00`},
		{"c1 \u009b31m csi", `c1 \u009b31m csi`},
		{"bidi \u202eevil\u202c \u2066x\u2069 \u200f", `bidi \u202eevil\u202c \u2066x\u2069 \u200f`},
		{"bad utf8 \xff\xfe", `bad utf8 \xff\xfe`},
		{`a\x1b stays`, `a\x1b stays`},
	} {
		got := termSafe(tc.in)
		require.Equal(t, tc.want, got, "%q", tc.in)
		for _, r := range got {
			require.False(t, r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || isBidiControl(r), "%q kept %U", tc.in, r)
		}
	}
}

func FuzzTermSafe(f *testing.F) {
	f.Add("\x1b]0;pwned\a\x1b[2J")
	f.Add("ok ü \u202e")
	f.Fuzz(func(t *testing.T, s string) {
		got := termSafe(s)
		for _, r := range got {
			if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || isBidiControl(r) {
				t.Fatalf("termSafe(%q) = %q keeps %U", s, got, r)
			}
		}
		if !needsEscape(s) && got != s {
			t.Fatalf("termSafe changed safe text %q to %q", s, got)
		}
	})
}

// TestCanaryAndWatchLinesAreEscaped covers the printers the server test
// does not reach: a canary's judgements and a failed stage's message.
func TestCanaryAndWatchLinesAreEscaped(t *testing.T) {
	t.Parallel()
	const evil = "\x1b]52;c;cHduZWQ=\a\u009b2J"
	var b strings.Builder
	detail := `{"metrics":[{"name":"errors` + `\u001b[31m","outcome":"fail","reason":"r"}],"checks":[{"name":"smoke","outcome":"fail","reason":"GET \u001b[2J"}]}`
	printCanary(&b, "web", "production", &api.CanaryView{Version: "v1", State: "aborted"},
		[]api.JudgementView{{Verdict: "fail", Reason: "worse " + evil, Detail: json.RawMessage(detail)}}, "holding "+evil, "router "+evil)
	line, stable := stageLine(api.ReleaseStageView{Name: "production", State: "failed", Message: "deploy: " + evil}, time.Now())
	for _, s := range []string{b.String(), line, stable} {
		require.NotContains(t, s, "\x1b")
		require.NotContains(t, s, "\a")
		require.NotContains(t, s, "\u009b")
	}
	require.Contains(t, b.String(), `holding \x1b]52;c;cHduZWQ=\x07\u009b2J`)
	require.Contains(t, b.String(), `check smoke: fail: GET \x1b[2J`)
}
