//! Data parallelism for the few places that do per-target work on big matrices.

/// Split `items` into `threads` chunks, run `f` on each (the calling thread takes one),
/// and return the results in order. `threads <= 1` runs everything here.
pub fn map_chunks<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    f: impl Fn(&[T]) -> R + Sync,
) -> Vec<R> {
    if threads <= 1 || items.len() < 2 {
        return vec![f(items)];
    }
    let chunk = items.len().div_ceil(threads);
    let mut parts = items.chunks(chunk);
    let first = parts.next().expect("at least one chunk");
    std::thread::scope(|scope| {
        let f = &f;
        let workers: Vec<_> = parts.map(|part| scope.spawn(move || f(part))).collect();
        let mut out = vec![f(first)];
        out.extend(
            workers
                .into_iter()
                .map(|w| w.join().expect("worker thread panicked")),
        );
        out
    })
}

/// Worker threads worth using for `n` items of per-target work: a thread costs tens of
/// microseconds, so small inputs stay on one.
pub fn threads_for(n: usize) -> usize {
    std::thread::available_parallelism()
        .map_or(1, |p| p.get())
        .min(n / 256)
        .max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_keep_input_order() {
        let items: Vec<u32> = (0..1000).collect();
        for threads in [1, 2, 3, 8] {
            let sums: Vec<u32> = map_chunks(&items, threads, |c| c.iter().sum());
            assert_eq!(sums.iter().sum::<u32>(), items.iter().sum::<u32>());
            let flat: Vec<u32> = map_chunks(&items, threads, |c| c.to_vec()).concat();
            assert_eq!(flat, items);
        }
    }
}
