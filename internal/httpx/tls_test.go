package httpx

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/bakery-deploy/bakery/internal/testutil"
)

// TestCertificateReload: a renewed certificate is served after Reload; a
// broken one is refused and the one in use stays.
func TestCertificateReload(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	certFile, keyFile, _ := testutil.SelfSignedCert(t, dir)
	c, err := LoadCertificate(certFile, keyFile)
	require.NoError(t, err)
	cfg := c.Config()
	require.Equal(t, uint16(tls.VersionTLS12), cfg.MinVersion)
	served := func() []byte {
		got, err := cfg.GetCertificate(&tls.ClientHelloInfo{})
		require.NoError(t, err)
		return got.Certificate[0]
	}
	first := served()

	renewed := t.TempDir()
	newCert, newKey, _ := testutil.SelfSignedCert(t, renewed)
	for from, to := range map[string]string{newCert: certFile, newKey: keyFile} {
		b, err := os.ReadFile(from)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(to, b, 0o600))
	}
	require.NoError(t, c.Reload())
	second := served()
	require.NotEqual(t, first, second, "the renewed certificate is served")

	require.NoError(t, os.WriteFile(certFile, []byte("not a certificate"), 0o600))
	require.ErrorContains(t, c.Reload(), filepath.Base(certFile))
	require.Equal(t, second, served(), "a broken file leaves the certificate in use")

	_, err = LoadCertificate(filepath.Join(dir, "missing.pem"), keyFile)
	require.Error(t, err)
}
