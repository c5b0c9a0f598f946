package secret

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestMask(t *testing.T) {
	t.Parallel()
	m := NewMasker("s3cr3t-token", "abc", "postgres://app:pw-Xy9@db.internal:5432/app", `qu"ote\back`)
	for _, tc := range []struct{ in, want string }{
		{"token=s3cr3t-token!", "token=***!"},
		{"twice s3cr3t-token s3cr3t-token", "twice *** ***"},
		{"abc is too short to mask", "abc is too short to mask"},
		{"url postgres://app:pw-Xy9@db.internal:5432/app end", "url *** end"},
		{"password alone: pw-Xy9", "password alone: ***"},
		{`json {"v":"qu\"ote\\back"}`, `json {"v":"***"}`},
		{"raw qu\"ote\\back", "raw ***"},
		{"nothing here", "nothing here"},
	} {
		require.Equal(t, tc.want, m.Mask(tc.in), "Mask(%q)", tc.in)
	}
	var nilMasker *Masker
	require.Equal(t, "s3cr3t-token", nilMasker.Mask("s3cr3t-token"))
	require.Equal(t, "s3cr3t-token", (&Masker{}).Mask("s3cr3t-token"))
}

func TestMaskAnyCopies(t *testing.T) {
	t.Parallel()
	m := NewMasker("hunter2-long")
	in := map[string]any{"a": "x hunter2-long", "b": []any{"hunter2-long", 3}, "c": []string{"hunter2-long"}, "n": 5}
	out := m.MaskAny(in).(map[string]any)
	require.Equal(t, "x ***", out["a"])
	require.Equal(t, []any{"***", 3}, out["b"])
	require.Equal(t, []string{"***"}, out["c"])
	require.Equal(t, 5, out["n"])
	require.Equal(t, "x hunter2-long", in["a"], "the input is not changed")
}

func TestSetReplaces(t *testing.T) {
	t.Parallel()
	m := NewMasker("first-secret")
	m.Set([]string{"second-secret"})
	require.Equal(t, "first-secret ***", m.Mask("first-secret second-secret"))
	m.Set(nil)
	require.Equal(t, "second-secret", m.Mask("second-secret"))
	require.Zero(t, m.Len())
}

// TestWriterSplitSecret writes output one byte at a time, and in every
// split of two writes: no secret, and no piece of one, is ever passed on.
func TestWriterSplitSecret(t *testing.T) {
	t.Parallel()
	const secretValue = "tok_9f8e7d6c5b4a"
	m := NewMasker(secretValue)
	text := "BAKERY_BOOTSTRAP_TOKEN=" + secretValue + "\nDONE tok_ but not a secret\n"
	want := "BAKERY_BOOTSTRAP_TOKEN=***\nDONE tok_ but not a secret\n"
	for split := 0; split <= len(text); split++ {
		var out bytes.Buffer
		w := m.NewWriter(&out)
		_, err := w.Write([]byte(text[:split]))
		require.NoError(t, err)
		require.NotContains(t, out.String(), "tok_9", "split %d: a piece of the secret was passed on before it ended", split)
		_, err = w.Write([]byte(text[split:]))
		require.NoError(t, err)
		require.NoError(t, w.Close())
		require.Equal(t, want, out.String(), "split at %d", split)
	}
	var out bytes.Buffer
	w := m.NewWriter(&out)
	for i := range len(text) {
		_, _ = w.Write([]byte{text[i]})
	}
	require.NoError(t, w.Close())
	require.Equal(t, want, out.String())
}

// TestWriterUnfinishedSecret: output that ends inside a secret shows no
// prefix of it.
func TestWriterUnfinishedSecret(t *testing.T) {
	t.Parallel()
	m := NewMasker("abcdef-secret")
	var out bytes.Buffer
	w := m.NewWriter(&out)
	_, _ = w.Write([]byte("key=abcdef-sec"))
	require.Equal(t, "key=", out.String(), "held back while it could be the secret")
	require.NoError(t, w.Close())
	require.Equal(t, "key=***", out.String())

	out.Reset()
	w = m.NewWriter(&out)
	_, _ = w.Write([]byte("ends in ab"))
	require.NoError(t, w.Close())
	require.Equal(t, "ends in ab", out.String(), "a held-back piece shorter than MinLen is shown as it is")
}

func TestWriterConcurrent(t *testing.T) {
	t.Parallel()
	m := NewMasker("concurrent-secret")
	var out bytes.Buffer
	w := m.NewWriter(&out)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				_, _ = w.Write([]byte("x concurrent-secret\n"))
			}
		}()
	}
	go m.Set([]string{"concurrent-secret", "another-one"})
	wg.Wait()
	require.NoError(t, w.Close())
	require.NotContains(t, out.String(), "concurrent-secret")
	require.Equal(t, 800, strings.Count(out.String(), "x ***\n"))
}

func TestJSONEscapeMatchesEncoding(t *testing.T) {
	t.Parallel()
	for _, s := range []string{`a"b`, `c\d`, "e\nf", "<g>&h", "tab\there"} {
		b, err := json.Marshal(s)
		require.NoError(t, err)
		require.Equal(t, string(b[1:len(b)-1]), jsonEscape(s))
	}
}

func FuzzWriter(f *testing.F) {
	f.Add("prefix s3cret-value suffix", 3)
	f.Add("s3cret-values3cret-value", 7)
	f.Fuzz(func(t *testing.T, text string, chunk int) {
		if chunk <= 0 || chunk > 64 {
			chunk = 1
		}
		m := NewMasker("s3cret-value")
		var out bytes.Buffer
		w := m.NewWriter(&out)
		for i := 0; i < len(text); i += chunk {
			_, _ = w.Write([]byte(text[i:min(i+chunk, len(text))]))
		}
		_ = w.Close()
		require.NotContains(t, out.String(), "s3cret-value")
		whole := m.Mask(text)
		if heldBack(whole, m.current()) < MinLen {
			require.Equal(t, whole, out.String(), "streaming masks exactly what masking the whole text does")
		} else {
			require.True(t, strings.HasSuffix(out.String(), Mask), "an unfinished secret at the end is masked")
		}
	})
}

// BenchmarkWriter is the cost of masking a deploy command's output as it
// streams: 4 KiB writes of ordinary log lines, with no secret (the common
// case) and with ten secrets of 32 bytes known, against passing the output
// on unmasked.
func BenchmarkWriter(b *testing.B) {
	line := "2026-12-01T19:00:00Z deploying web v1.2.3 to staging: step 3 of 7 ok\n"
	chunk := []byte(strings.Repeat(line, 4096/len(line)))
	secrets := make([]string, 10)
	for i := range secrets {
		secrets[i] = strings.Repeat(string(rune('a'+i)), 16) + "-secret-value-0123"
	}
	for _, bc := range []struct {
		name string
		m    *Masker
	}{{"unmasked", nil}, {"10 secrets", NewMasker(secrets...)}} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(chunk)))
			var w io.Writer = io.Discard
			if bc.m != nil {
				w = bc.m.NewWriter(io.Discard)
			}
			for b.Loop() {
				_, _ = w.Write(chunk)
			}
		})
	}
}
