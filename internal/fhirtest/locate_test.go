package fhirtest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestServerDirFromNestedWorkingDirectory(t *testing.T) {
	want, err := serverDir()
	require.NoError(t, err)
	assert.FileExists(t, filepath.Join(want, "server.mjs"))

	t.Chdir("testdata")
	got, err := serverDir()
	require.NoError(t, err)
	assert.Equal(t, want, got)
}

func TestFindModuleRoot(t *testing.T) {
	root := t.TempDir()
	nested := filepath.Join(root, "a", "b")
	require.NoError(t, os.MkdirAll(nested, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(root, "go.mod"), []byte("module x\n"), 0o644))
	got, ok := findModuleRoot(nested)
	require.True(t, ok)
	assert.Equal(t, root, got)

	_, ok = findModuleRoot(string(filepath.Separator))
	assert.False(t, ok)
}

func TestConfigArgs(t *testing.T) {
	var c config
	for _, o := range []Option{RefuseClientIDs(), UUIDVersionIDs(), TransactionCaps(3, 2), BatchCap(4), CapStatus(400), NoValidation()} {
		o(&c)
	}
	assert.Equal(t, []string{
		"--refuse-client-ids",
		"--version-ids", "uuid",
		"--max-transaction-entries", "3",
		"--max-conditional-transaction-entries", "2",
		"--max-batch-entries", "4",
		"--cap-status", "400",
		"--no-validate",
	}, c.args())
}
