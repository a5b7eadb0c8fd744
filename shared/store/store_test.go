package store_test

import (
	"testing"

	"github.com/layerscan/layerscan/shared/store"
	"github.com/layerscan/layerscan/shared/store/storetest"
)

func TestFS(t *testing.T) {
	s, err := store.NewFS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	storetest.Contract(t, s)
}
