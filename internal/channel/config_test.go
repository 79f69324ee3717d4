package channel

import (
	"strings"
	"testing"
	"testing/fstest"
)

// List names the channels without building their kinds, so a function
// that links no provider (the API) reads the same file Load does; Load
// still refuses a kind nobody registered, and both refuse a bad id.
func TestListNamesChannelsWithoutTheirKinds(t *testing.T) {
	tree := fstest.MapFS{"channels.yaml": {Data: []byte("channels:\n  - id: app\n    kind: nowhere\n  - id: shop\n    kind: elsewhere\n")}}
	got, err := List(tree, "channels.yaml")
	if err != nil || len(got) != 2 || got[0].ID != "app" || got[1].Kind != "elsewhere" {
		t.Fatalf("List = %+v, %v", got, err)
	}
	if _, err := Load(tree, "channels.yaml"); err == nil || !strings.Contains(err.Error(), `channels.yaml:3: channel "app": unknown kind "nowhere"`) {
		t.Fatalf("Load of an unregistered kind: %v", err)
	}
	tree["channels.yaml"] = &fstest.MapFile{Data: []byte("channels:\n  - id: App\n    kind: x\n  - id: b\n")}
	_, err = List(tree, "channels.yaml")
	if err == nil || !strings.Contains(err.Error(), `channels.yaml:2: channel id "App"`) || !strings.Contains(err.Error(), `channel "b" has no kind`) {
		t.Fatalf("List of a bad id and a missing kind: %v", err)
	}
}
