package eventpattern

import (
	"encoding/json"
	"testing"
)

// The examples of EventBridge's user guide ("Event pattern syntax",
// "Arrays in event patterns", "Content filtering" and "Comparison
// operators"), each with an event it gives or describes as matching and
// one that does not.
func TestDocumentedExamples(t *testing.T) {
	const ec2 = `{"version":"0","id":"6a7e8feb-b491-4cf7-a9f1-bf3703467718","detail-type":"EC2 Instance State-change Notification",
		"source":"aws.ec2","account":"111122223333","time":"2017-12-22T18:43:48Z","region":"us-west-1",
		"resources":["arn:aws:ec2:us-west-1:123456789012:instance/i-1234567890abcdef0"],
		"detail":{"instance-id":"i-1234567890abcdef0","state":"terminated"}}`
	cases := []struct {
		name, pattern, event string
		match                bool
	}{
		// Event pattern syntax: the fields named must be in the event, nested alike.
		{"syntax", `{"source":["aws.ec2"],"detail-type":["EC2 Instance State-change Notification"],"detail":{"state":["terminated"]}}`, ec2, true},
		{"syntax, another state", `{"source":["aws.ec2"],"detail-type":["EC2 Instance State-change Notification"],"detail":{"state":["running"]}}`, ec2, false},
		{"syntax, field not nested alike", `{"source":["aws.ec2"],"state":["terminated"]}`, ec2, false},
		{"multiple values", `{"source":["aws.ec2","aws.fargate"]}`, ec2, true},
		{"multiple values, none", `{"source":["aws.s3","aws.fargate"]}`, ec2, false},
		// Arrays: the first value of the pattern is the second of the event.
		{"arrays intersect",
			`{"resources":["arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f","arn:aws:ec2:us-east-1:111122223333:instance/i-b188560f","arn:aws:ec2:us-east-1:444455556666:instance/i-b188560f"]}`,
			`{"resources":["arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:eb56d16b-bbf0-401d-b893-d5978ed4a025:autoScalingGroupName/ASGTerminate","arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f"]}`, true},
		{"arrays disjoint",
			`{"resources":["arn:aws:ec2:us-east-1:111122223333:instance/i-b188560f"]}`,
			`{"resources":["arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f"]}`, false},
		// Prefix.
		{"prefix", `{"time":[{"prefix":"2017-10-02"}]}`, `{"time":"2017-10-02T18:43:48Z"}`, true},
		{"prefix, another day", `{"time":[{"prefix":"2017-10-02"}]}`, `{"time":"2017-10-03T18:43:48Z"}`, false},
		{"prefix region", `{"region":[{"prefix":"us-"}]}`, `{"region":"us-west-1"}`, true},
		{"prefix ignoring case", `{"detail":{"service":[{"prefix":{"equals-ignore-case":"EventB"}}]}}`, `{"detail":{"service":"EventBridge"}}`, true},
		{"prefix ignoring case, lower", `{"detail":{"service":[{"prefix":{"equals-ignore-case":"EventB"}}]}}`, `{"detail":{"service":"eventbridge"}}`, true},
		{"prefix ignoring case, upper", `{"detail":{"service":[{"prefix":{"equals-ignore-case":"EventB"}}]}}`, `{"detail":{"service":"EVENTBRIDGE"}}`, true},
		{"prefix ignoring case, other", `{"detail":{"service":[{"prefix":{"equals-ignore-case":"EventB"}}]}}`, `{"detail":{"service":"SNS"}}`, false},
		// Suffix.
		{"suffix", `{"source":[{"suffix":"ec2.amazonaws.com"}]}`, `{"source":"us-west-1.ec2.amazonaws.com"}`, true},
		{"suffix, other", `{"source":[{"suffix":"ec2.amazonaws.com"}]}`, `{"source":"s3.amazonaws.com"}`, false},
		{"suffix file", `{"detail":{"FileName":[{"suffix":".png"}]}}`, `{"detail":{"FileName":"image.png"}}`, true},
		{"suffix ignoring case", `{"detail":{"FileName":[{"suffix":{"equals-ignore-case":".png"}}]}}`, `{"detail":{"FileName":"image.PNG"}}`, true},
		{"suffix ignoring case, mixed", `{"detail":{"FileName":[{"suffix":{"equals-ignore-case":".png"}}]}}`, `{"detail":{"FileName":"image.Png"}}`, true},
		{"suffix ignoring case, other", `{"detail":{"FileName":[{"suffix":{"equals-ignore-case":".png"}}]}}`, `{"detail":{"FileName":"image.jpg"}}`, false},
		// Anything-but.
		{"anything-but", `{"detail":{"state":[{"anything-but":"initializing"}]}}`, `{"detail":{"state":"running"}}`, true},
		{"anything-but, excluded", `{"detail":{"state":[{"anything-but":"initializing"}]}}`, `{"detail":{"state":"initializing"}}`, false},
		{"anything-but number", `{"detail":{"x-limit":[{"anything-but":123}]}}`, `{"detail":{"x-limit":456}}`, true},
		{"anything-but number, excluded", `{"detail":{"x-limit":[{"anything-but":123}]}}`, `{"detail":{"x-limit":123}}`, false},
		{"anything-but strings", `{"detail":{"state":[{"anything-but":["stopped","overloaded"]}]}}`, `{"detail":{"state":"running"}}`, true},
		{"anything-but strings, excluded", `{"detail":{"state":[{"anything-but":["stopped","overloaded"]}]}}`, `{"detail":{"state":"overloaded"}}`, false},
		{"anything-but numbers", `{"detail":{"x-limit":[{"anything-but":[100,200,300]}]}}`, `{"detail":{"x-limit":250}}`, true},
		{"anything-but numbers, excluded", `{"detail":{"x-limit":[{"anything-but":[100,200,300]}]}}`, `{"detail":{"x-limit":200}}`, false},
		{"anything-but prefix", `{"detail":{"state":[{"anything-but":{"prefix":"init"}}]}}`, `{"detail":{"state":"running"}}`, true},
		{"anything-but prefix, excluded", `{"detail":{"state":[{"anything-but":{"prefix":"init"}}]}}`, `{"detail":{"state":"initializing"}}`, false},
		{"anything-but prefix region", `{"Region":[{"anything-but":{"prefix":"us-"}}]}`, `{"Region":"eu-west-1"}`, true},
		{"anything-but suffix", `{"detail":{"FileName":[{"anything-but":{"suffix":".txt"}}]}}`, `{"detail":{"FileName":"notes.md"}}`, true},
		{"anything-but suffix, excluded", `{"detail":{"FileName":[{"anything-but":{"suffix":".txt"}}]}}`, `{"detail":{"FileName":"notes.txt"}}`, false},
		{"anything-but ignoring case", `{"detail":{"state":[{"anything-but":{"equals-ignore-case":"initializing"}}]}}`, `{"detail":{"state":"INITIALIZING"}}`, false},
		{"anything-but ignoring case, other", `{"detail":{"state":[{"anything-but":{"equals-ignore-case":"initializing"}}]}}`, `{"detail":{"state":"running"}}`, true},
		{"anything-but ignoring case list", `{"detail":{"state":[{"anything-but":{"equals-ignore-case":["Stopped","OverLoaded"]}}]}}`, `{"detail":{"state":"STOPPED"}}`, false},
		{"anything-but ignoring case list, other", `{"detail":{"state":[{"anything-but":{"equals-ignore-case":["Stopped","OverLoaded"]}}]}}`, `{"detail":{"state":"running"}}`, true},
		{"anything-but wildcard", `{"detail":{"FilePath":[{"anything-but":{"wildcard":"*/lib/*"}}]}}`, `{"detail":{"FilePath":"/usr/bin/sh"}}`, true},
		{"anything-but wildcard, excluded", `{"detail":{"FilePath":[{"anything-but":{"wildcard":"*/lib/*"}}]}}`, `{"detail":{"FilePath":"/usr/lib/libc.so"}}`, false},
		{"anything-but wildcards", `{"detail":{"FilePath":[{"anything-but":{"wildcard":["*/lib/*","*/bin/*"]}}]}}`, `{"detail":{"FilePath":"/usr/bin/sh"}}`, false},
		{"anything-but wildcards, other", `{"detail":{"FilePath":[{"anything-but":{"wildcard":["*/lib/*","*/bin/*"]}}]}}`, `{"detail":{"FilePath":"/etc/hosts"}}`, true},
		// Numeric.
		{"numeric",
			`{"detail":{"c-count":[{"numeric":[">",0,"<=",5]}],"d-count":[{"numeric":["<",10]}],"x-limit":[{"numeric":["=",3.018e2]}]}}`,
			`{"detail":{"c-count":5,"d-count":7,"x-limit":301.8}}`, true},
		{"numeric, out of range",
			`{"detail":{"c-count":[{"numeric":[">",0,"<=",5]}],"d-count":[{"numeric":["<",10]}],"x-limit":[{"numeric":["=",3.018e2]}]}}`,
			`{"detail":{"c-count":6,"d-count":7,"x-limit":301.8}}`, false},
		// IP address.
		{"cidr", `{"detail":{"sourceIPAddress":[{"cidr":"10.0.0.0/24"}]}}`, `{"detail":{"sourceIPAddress":"10.0.0.255"}}`, true},
		{"cidr, outside", `{"detail":{"sourceIPAddress":[{"cidr":"10.0.0.0/24"}]}}`, `{"detail":{"sourceIPAddress":"10.0.1.1"}}`, false},
		{"cidr IPv6", `{"detail":{"sourceIPAddress":[{"cidr":"2001:db8::/64"}]}}`, `{"detail":{"sourceIPAddress":"2001:db8::ff00:42:8329"}}`, true},
		{"cidr IPv6, outside", `{"detail":{"sourceIPAddress":[{"cidr":"2001:db8::/64"}]}}`, `{"detail":{"sourceIPAddress":"2001:db9::1"}}`, false},
		// Exists.
		{"exists", `{"detail":{"state":[{"exists":true}]}}`, ec2, true},
		{"exists, absent", `{"detail":{"state":[{"exists":true}]}}`, `{"detail":{"instance-id":"i-1"}}`, false},
		{"exists false", `{"detail":{"c-count":[{"exists":false}]}}`, ec2, true},
		{"exists false, present", `{"detail":{"state":[{"exists":false}]}}`, ec2, false},
		// Empty value and null.
		{"empty and null", `{"detail":{"eventVersion":[""],"responseElements":[null]}}`, `{"detail":{"eventVersion":"","responseElements":null}}`, true},
		{"empty and null, absent", `{"detail":{"eventVersion":[""],"responseElements":[null]}}`, `{"detail":{"eventVersion":""}}`, false},
		{"empty is not absent", `{"detail":{"LastName":[""]}}`, `{"detail":{"FirstName":"Alice"}}`, false},
		// Equals and equals-ignore-case.
		{"equals", `{"Name":["Alice"]}`, `{"Name":"Alice"}`, true},
		{"equals is case-sensitive", `{"Name":["Alice"]}`, `{"Name":"alice"}`, false},
		{"equals-ignore-case", `{"detail-type":[{"equals-ignore-case":"ec2 instance state-change notification"}]}`, ec2, true},
		{"equals-ignore-case, other", `{"detail-type":[{"equals-ignore-case":"ec2 instance state-change"}]}`, ec2, false},
		// Wildcard.
		{"wildcard", `{"EventBusArn":[{"wildcard":"arn:aws:events:us-east-1:*:event-bus/*"}]}`, `{"EventBusArn":"arn:aws:events:us-east-1:123456789012:event-bus/default"}`, true},
		{"wildcard, other region", `{"EventBusArn":[{"wildcard":"arn:aws:events:us-east-1:*:event-bus/*"}]}`, `{"EventBusArn":"arn:aws:events:us-west-2:123456789012:event-bus/default"}`, false},
		{"wildcard file", `{"detail":{"FilePath":[{"wildcard":"*/lib/*"}]}}`, `{"detail":{"FilePath":"/usr/lib/x"}}`, true},
		// $or.
		{"$or numeric",
			`{"detail":{"$or":[{"c-count":[{"numeric":[">",0,"<=",5]}]},{"d-count":[{"numeric":["<",10]}]},{"x-limit":[{"numeric":["=",3.018e2]}]}]}}`,
			`{"detail":{"c-count":50,"d-count":7,"x-limit":1}}`, true},
		{"$or numeric, none",
			`{"detail":{"$or":[{"c-count":[{"numeric":[">",0,"<=",5]}]},{"d-count":[{"numeric":["<",10]}]},{"x-limit":[{"numeric":["=",3.018e2]}]}]}}`,
			`{"detail":{"c-count":50,"d-count":70,"x-limit":1}}`, false},
		{"$or top level",
			`{"source":["aws.cloudwatch"],"$or":[{"metricName":["CPUUtilization","ReadLatency"]},{"namespace":["AWS/EC2","AWS/ES"]}]}`,
			`{"source":"aws.cloudwatch","metricName":"DiskWrites","namespace":"AWS/ES"}`, true},
		{"$or top level, none",
			`{"source":["aws.cloudwatch"],"$or":[{"metricName":["CPUUtilization","ReadLatency"]},{"namespace":["AWS/EC2","AWS/ES"]}]}`,
			`{"source":"aws.cloudwatch","metricName":"DiskWrites","namespace":"AWS/S3"}`, false},
		// Several filters at once.
		{"combined",
			`{"time":[{"prefix":"2017-10-02"}],"detail":{"state":[{"anything-but":"initializing"}],"c-count":[{"numeric":[">",0,"<=",5]}],"d-count":[{"numeric":["<",10]}],"x-limit":[{"anything-but":[100,200,300]}]}}`,
			`{"time":"2017-10-02T18:43:48Z","detail":{"state":"running","c-count":3,"d-count":7,"x-limit":250}}`, true},
		{"combined, one fails",
			`{"time":[{"prefix":"2017-10-02"}],"detail":{"state":[{"anything-but":"initializing"}],"c-count":[{"numeric":[">",0,"<=",5]}],"d-count":[{"numeric":["<",10]}],"x-limit":[{"anything-but":[100,200,300]}]}}`,
			`{"time":"2017-10-02T18:43:48Z","detail":{"state":"running","c-count":3,"d-count":7,"x-limit":300}}`, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := Compile([]byte(c.pattern))
			if err != nil {
				t.Fatal(err)
			}
			got, err := p.MatchJSON([]byte(c.event))
			if err != nil {
				t.Fatal(err)
			}
			if got != c.match {
				t.Errorf("%s on %s: matched %v, want %v", c.pattern, c.event, got, c.match)
			}
			// Decoded the way encoding/json decodes by default, too.
			var doc any
			if err := json.Unmarshal([]byte(c.event), &doc); err != nil {
				t.Fatal(err)
			}
			if got := p.Match(doc); got != c.match {
				t.Errorf("%s on %s decoded to float64: matched %v, want %v", c.pattern, c.event, got, c.match)
			}
		})
	}
}
