/** `what` is the plural noun ("images"); the singular drops its final s. */
export function Pager({ page, pageSize, total, onPage, what }: { page: number; pageSize: number; total: number; onPage: (n: number) => void; what: string }) {
  const noun = total === 1 ? what.replace(/s$/, '') : what;
  const pages = Math.max(1, Math.ceil(total / pageSize));
  if (total <= pageSize && page === 1) return <p class="muted small">{total} {noun}</p>;
  const from = total === 0 ? 0 : (page - 1) * pageSize + 1;
  const to = Math.min(total, page * pageSize);
  return (
    <nav class="pager" aria-label={`${what} pages`}>
      <button type="button" class="btn btn-small" disabled={page <= 1} onClick={() => onPage(page - 1)}>‹ Previous</button>
      <span class="small">{from}–{to} of {total} {noun} · page {page} of {pages}</span>
      <button type="button" class="btn btn-small" disabled={page >= pages} onClick={() => onPage(page + 1)}>Next ›</button>
    </nav>
  );
}
