// Package email alerts a team by mail through Amazon SES v2, one mail per
// group, with an HTML and a plain-text part that say the same thing.
package email

import (
	"context"
	"errors"
	"fmt"
	"net/mail"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	sestypes "github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/aws/smithy-go"

	"github.com/ocxhq/ocx/internal/notify"
	"github.com/ocxhq/ocx/internal/team"
)

// Notifier sends alerts from one sender address to each team's addresses.
type Notifier struct {
	client *sesv2.Client
	from   string
	// Naming says how mails name customers and link the console.
	Naming notify.Naming
}

// New returns a Notifier sending as from ("alerts@example.com" or
// "OCX <alerts@example.com>"); SES must have a verified identity for the
// address or its domain.
func New(client *sesv2.Client, from string) (*Notifier, error) {
	if _, err := mail.ParseAddress(from); err != nil {
		return nil, fmt.Errorf("email sender %q: %w", from, err)
	}
	return &Notifier{client: client, from: from}, nil
}

// Name is the integration's part of the receiver name.
func (n *Notifier) Name() string { return "email" }

// Serves reports whether t has any address to mail.
func (n *Notifier) Serves(t team.Team) bool { return len(t.Email) > 0 }

// Notify mails nt to every address of its team in one message. A team
// without addresses is not mailed and that is not an error; the Service
// skips such teams before claiming (see Serves), so nothing is recorded as
// sent either.
func (n *Notifier) Notify(ctx context.Context, nt notify.Notification) (retry bool, err error) {
	t := nt.Team
	if len(t.Email) == 0 {
		return false, nil
	}
	m, err := RenderNamed(nt, n.Naming)
	if err != nil {
		return false, err
	}
	_, err = n.client.SendEmail(ctx, &sesv2.SendEmailInput{
		FromEmailAddress: aws.String(n.from),
		Destination:      &sestypes.Destination{ToAddresses: t.Email},
		Content: &sestypes.EmailContent{Simple: &sestypes.Message{
			Subject: &sestypes.Content{Data: aws.String(m.Subject), Charset: aws.String("UTF-8")},
			Body: &sestypes.Body{
				Html: &sestypes.Content{Data: aws.String(m.HTML), Charset: aws.String("UTF-8")},
				Text: &sestypes.Content{Data: aws.String(m.Text), Charset: aws.String("UTF-8")},
			},
		}},
	})
	if err != nil {
		return retryable(ctx, err), fmt.Errorf("mail group %s to team %s: %w", nt.GroupKey, t.ID, err)
	}
	return false, nil
}

// retryable says whether another try could succeed once the SDK's own
// retries are spent: throttling and SES outages may pass; a rejected message,
// an unverified sender or a paused account will not.
func retryable(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return true // the request did not get an answer: the network may recover
	}
	switch ae.ErrorCode() {
	case "TooManyRequestsException", "Throttling", "ThrottlingException":
		return true
	}
	return ae.ErrorFault() == smithy.FaultServer
}
