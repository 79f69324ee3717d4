package stack_test

import (
	"strings"
	"testing"

	"github.com/ocxhq/ocx/internal/topology"
)

// Each configured channel has its raw webhook delivery stream, named as
// the functions find it, writing GZIP to the archive bucket under its own
// prefix with Firehose's default hour folders, encrypted, logged, and with
// a role that may write only there.
func TestRawStreams(t *testing.T) {
	channels := shippedChannels(t)
	forEachStage(t, func(t *testing.T, s *synthesized) {
		ids, streams := s.tmpl.ofType("AWS::KinesisFirehose::DeliveryStream")
		if len(streams) != len(channels) {
			t.Fatalf("%d delivery streams, want one per channel (%d)", len(streams), len(channels))
		}
		byName := map[string]int{}
		for i, st := range streams {
			name, _ := st.Properties["DeliveryStreamName"].(string)
			byName[name] = i
		}
		for _, ch := range channels {
			i, ok := byName[topology.RawStreamName(s.stage, ch)]
			if !ok {
				t.Errorf("channel %s: no stream %s", ch, topology.RawStreamName(s.stage, ch))
				continue
			}
			st, id := streams[i], ids[i]
			dest := dig(st.Properties, "ExtendedS3DestinationConfiguration")
			for _, c := range []struct {
				path []any
				want any
			}{
				{[]any{"Prefix"}, "raw/" + ch + "/"},
				{[]any{"ErrorOutputPrefix"}, "raw-errors/" + ch + "/!{firehose:error-output-type}/"},
				{[]any{"CompressionFormat"}, "GZIP"},
				{[]any{"BufferingHints", "SizeInMBs"}, float64(topology.RawBufferMB)},
				{[]any{"BufferingHints", "IntervalInSeconds"}, float64(topology.RawBufferSeconds)},
				{[]any{"CloudWatchLoggingOptions", "Enabled"}, true},
			} {
				if got := dig(dest, c.path...); got != c.want {
					t.Errorf("%s: %v = %v, want %v", id, c.path, got, c.want)
				}
			}
			if dig(dest, "DynamicPartitioningConfiguration") != nil || strings.Contains(dig(dest, "Prefix").(string), "!{") {
				t.Errorf("%s: partitioned by expressions; the emulator evaluates none", id)
			}
			if !hasRef(dig(dest, "BucketARN"), "ArchiveBucket") {
				t.Errorf("%s: not delivering to the archive bucket: %v", id, dig(dest, "BucketARN"))
			}
			if k := dig(st.Properties, "DeliveryStreamEncryptionConfigurationInput", "KeyType"); k != "AWS_OWNED_CMK" {
				t.Errorf("%s: server-side encryption %v", id, k)
			}
			// The stream's role writes only under the channel's prefixes.
			role := ""
			for r := range refs(dig(dest, "RoleARN")) {
				role = r
			}
			for _, stmt := range s.roleStatements(role) {
				for _, a := range actions(stmt) {
					if a != "s3:PutObject" {
						continue
					}
					for _, res := range asList(dig(stmt, "Resource")) {
						if str := joined(res); !strings.HasSuffix(str, "/raw/"+ch+"/*") && !strings.HasSuffix(str, "/raw-errors/"+ch+"/*") {
							t.Errorf("%s: role %s may put objects at %s", id, role, str)
						}
					}
				}
			}
		}
		// Ingest may put records to these streams and no other.
		fn, _ := s.function(topology.Ingest)
		for k, v := range fn.env() {
			if k == topology.EnvRawStreamPrefix && v != topology.RawStreamPrefix(s.stage) {
				t.Errorf("ingest %s = %v", k, v)
			}
		}
		if _, ok := fn.env()[topology.EnvRawStreamPrefix]; !ok {
			t.Errorf("ingest has no %s", topology.EnvRawStreamPrefix)
		}
		streamIDs := map[string]bool{}
		for _, id := range ids {
			streamIDs[id] = true
		}
		role := ""
		for r := range refs(fn.Properties["Role"]) {
			role = r
		}
		for _, stmt := range s.roleStatements(role) {
			for _, a := range actions(stmt) {
				if a != "firehose:PutRecord" {
					continue
				}
				got := refs(dig(stmt, "Resource"))
				if len(got) != len(ids) {
					t.Errorf("ingest may put records to %v, want its channels' %d streams", got, len(ids))
				}
				for r := range got {
					if !streamIDs[r] {
						t.Errorf("ingest may put records to %s", r)
					}
				}
			}
		}
	})
}

// hasRef reports whether v refers to a resource whose logical id starts
// with prefix.
func hasRef(v any, prefix string) bool {
	for id := range refs(v) {
		if strings.HasPrefix(id, prefix) {
			return true
		}
	}
	return false
}

// joined renders a resource ARN, literal or Fn::Join, as one string with
// references left as <id>.
func joined(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case map[string]any:
		if j, ok := v["Fn::Join"].([]any); ok && len(j) == 2 {
			var b strings.Builder
			for _, part := range asList(j[1]) {
				b.WriteString(joined(part))
			}
			return b.String()
		}
		for id := range refs(v) {
			return "<" + id + ">"
		}
	}
	return ""
}
