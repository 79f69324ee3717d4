export function when(t) {
  if (!t) return '—';
  const d = new Date(t);
  if (isNaN(d)) return '—';
  return d.toISOString().replace('T', ' ').slice(0, 16) + ' UTC';
}

export function num(v, digits = 1) {
  if (v === null || v === undefined || Number.isNaN(v)) return '—';
  if (Number.isInteger(v)) return String(v);
  return v.toFixed(digits);
}

export function duration(sec) {
  if (sec === null || sec === undefined) return '—';
  if (sec < 90) return `${Math.round(sec)} s`;
  if (sec < 5400) return `${Math.round(sec / 60)} min`;
  if (sec < 172800) return `${(sec / 3600).toFixed(1)} h`;
  return `${(sec / 86400).toFixed(1)} d`;
}

