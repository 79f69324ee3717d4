// Mark is a channel's badge: a short code on the channel's colour (CSS),
// needing no icon font; decorative, as the name is written beside it.
const codes = { app: 'AP', checkout: 'CO', stripe: 'ST', shopify: 'SH', zendesk: 'ZD', intercom: 'IC', twilio: 'TW', sendgrid: 'SG', typeform: 'TF', delighted: 'DL' };

export function Mark({ channel }) {
  const code = codes[channel] || (channel || '?').slice(0, 2).toUpperCase();
  return <span class={'mark mark-' + (channel || 'other').replace(/[^a-z0-9-]/g, '')} aria-hidden="true">{code}</span>;
}
