// Package kinds registers every channel kind: one line per provider
// package. Adding a channel is writing its package under internal/channel/
// and adding its line here.
package kinds

import (
	_ "github.com/ocxhq/ocx/internal/channel/delighted"
	_ "github.com/ocxhq/ocx/internal/channel/intercom"
	_ "github.com/ocxhq/ocx/internal/channel/sendgrid"
	_ "github.com/ocxhq/ocx/internal/channel/shopify"
	_ "github.com/ocxhq/ocx/internal/channel/standardwebhooks"
	_ "github.com/ocxhq/ocx/internal/channel/stripe"
	_ "github.com/ocxhq/ocx/internal/channel/twilio"
	_ "github.com/ocxhq/ocx/internal/channel/typeform"
	_ "github.com/ocxhq/ocx/internal/channel/zendesk"
)
