//! CI fan-out: `--shard I/N` splits the config's targets into N parts, and each runner
//! builds what its part lacks: deterministically (every runner computes the same split from
//! the same config, whatever order it lists targets in, and whatever the store or the
//! remote cache held when the runner started), balanced (part sizes differ by at most one)
//! and stable (a target added or removed elsewhere moves few others). The split is over
//! every target, not only those to build: a runner that starts after another pushed sees
//! fewer to build, and a split of those would differ from the one the plan promised.
//!
//! Rendezvous hashing with bounded loads: each target ranks the parts by a blake3 score of
//! (target id, part), and, taken in the order of their own hashes, targets go to the best
//! ranked part that still has room. Room is `n / N`, plus one for the first `n % N` parts
//! to fill up.

use std::fmt;
use std::str::FromStr;

use crate::canonical::Context;

static CONTEXT: Context = Context::new("wheelbuild 2026-11-30 shard");

/// One part of N, numbered from 1 as users write it (`2/4`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Shard, String> {
        let bad = || format!("`{s}` is not I/N with 1 <= I <= N (e.g. `2/4`)");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count): (usize, usize) = (
            i.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if index == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

fn score(id: &str, part: usize) -> [u8; 32] {
    *CONTEXT.hash(&(id, part)).as_bytes()
}

/// The part (0-based) of each of `ids`, in their order.
pub fn assign(ids: &[&str], count: usize) -> Vec<usize> {
    let count = count.max(1);
    let n = ids.len();
    let (base, extra) = (n / count, n % count);
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| (*CONTEXT.hash(&ids[i]).as_bytes(), i));
    let mut load = vec![0usize; count];
    let mut above = 0;
    let mut parts = vec![0; n];
    for i in order {
        let mut ranking: Vec<usize> = (0..count).collect();
        ranking.sort_by_key(|&p| std::cmp::Reverse(score(ids[i], p)));
        let part = ranking
            .into_iter()
            .find(|&p| load[p] < base || (load[p] == base && above < extra))
            .expect("the parts hold every target");
        if load[part] == base {
            above += 1;
        }
        load[part] += 1;
        parts[i] = part;
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: usize) -> Vec<String> {
        (0..n)
            .map(|i| format!("project-{i}/py3.11-cu12{}", i % 7))
            .collect()
    }

    #[test]
    fn parts_are_balanced_and_do_not_depend_on_order() {
        let owned = ids(103);
        let refs: Vec<&str> = owned.iter().map(String::as_str).collect();
        let parts = assign(&refs, 4);
        let mut sizes = [0; 4];
        for p in &parts {
            sizes[*p] += 1;
        }
        assert_eq!(
            sizes.iter().max().unwrap() - sizes.iter().min().unwrap(),
            1,
            "{sizes:?}"
        );
        assert_eq!(sizes.iter().sum::<usize>(), 103);
        let mut reversed = refs.clone();
        reversed.reverse();
        let back = assign(&reversed, 4);
        for (i, id) in reversed.iter().enumerate() {
            let j = refs.iter().position(|r| r == id).unwrap();
            assert_eq!(back[i], parts[j], "{id}");
        }
    }

    #[test]
    fn adding_a_target_moves_few_others() {
        let owned = ids(200);
        let refs: Vec<&str> = owned.iter().map(String::as_str).collect();
        let before = assign(&refs[..199], 8);
        let after = assign(&refs, 8);
        let moved = before.iter().zip(&after).filter(|(a, b)| a != b).count();
        assert!(moved <= 20, "{moved} of 199 moved");
    }

    #[test]
    fn shards_parse_as_users_write_them() {
        assert_eq!("2/4".parse(), Ok(Shard { index: 2, count: 4 }));
        assert!("0/4".parse::<Shard>().is_err());
        assert!("5/4".parse::<Shard>().is_err());
        assert!("x".parse::<Shard>().is_err());
        assert_eq!(Shard { index: 1, count: 3 }.to_string(), "1/3");
    }
}
