//! A line diff of two texts: common head and tail trimmed, then a longest-common-subsequence
//! alignment of the rest (bounded; past the bound the changed block is shown as replaced).

/// Largest `old × new` table of the alignment (lines left after trimming).
const MAX_CELLS: usize = 4_000_000;

/// `-`/`+` lines for removed and added lines, each run headed by `@@ -<old line> +<new line> @@`.
/// Empty when the texts have the same lines.
pub fn line_diff(old: &str, new: &str) -> String {
    let old: Vec<&str> = old.lines().collect();
    let new: Vec<&str> = new.lines().collect();
    let head = old.iter().zip(&new).take_while(|(a, b)| a == b).count();
    let tail = old[head..]
        .iter()
        .rev()
        .zip(new[head..].iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    let old_mid = &old[head..old.len() - tail];
    let new_mid = &new[head..new.len() - tail];
    let mut out = String::new();
    let mut run_open = false;
    let emit = |out: &mut String, sign: char, text: &str, at: (usize, usize), open: bool| {
        if !open {
            out.push_str(&format!("@@ -{} +{} @@\n", at.0 + 1, at.1 + 1));
        }
        out.push(sign);
        out.push_str(text);
        out.push('\n');
    };
    for step in align(old_mid, new_mid) {
        match step {
            Step::Same => run_open = false,
            Step::Removed(i, j) => {
                emit(&mut out, '-', old_mid[i], (head + i, head + j), run_open);
                run_open = true;
            }
            Step::Added(i, j) => {
                emit(&mut out, '+', new_mid[j], (head + i, head + j), run_open);
                run_open = true;
            }
        }
    }
    out
}

#[derive(Debug, PartialEq)]
enum Step {
    Same,
    Removed(usize, usize),
    Added(usize, usize),
}

/// The edit script from `old` to `new` (indexes into both at each step).
fn align(old: &[&str], new: &[&str]) -> Vec<Step> {
    let (n, m) = (old.len(), new.len());
    if n.saturating_mul(m) > MAX_CELLS {
        let mut steps: Vec<Step> = (0..n).map(|i| Step::Removed(i, 0)).collect();
        steps.extend((0..m).map(|j| Step::Added(n, j)));
        return steps;
    }
    // lcs[i][j]: length of the common subsequence of old[i..] and new[j..].
    let mut lcs = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if old[i] == new[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut steps = Vec::new();
    while i < n || j < m {
        if i < n && j < m && old[i] == new[j] {
            steps.push(Step::Same);
            i += 1;
            j += 1;
        } else if i < n && (j == m || lcs[i + 1][j] >= lcs[i][j + 1]) {
            // Removals first, so a changed line reads `-old` then `+new`.
            steps.push(Step::Removed(i, j));
            i += 1;
        } else {
            steps.push(Step::Added(i, j));
            j += 1;
        }
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_text_has_no_diff() {
        assert_eq!(line_diff("a\nb\n", "a\nb"), "");
    }

    #[test]
    fn changes_are_marked_with_their_line_numbers() {
        let old = "hostname olt-1\nsnmp community public\nntp server 10.0.0.1\nend\n";
        let new = "hostname olt-1\nsnmp community s3cret\nntp server 10.0.0.1\nlogging host 10.0.0.9\nend\n";
        assert_eq!(
            line_diff(old, new),
            "@@ -2 +2 @@\n-snmp community public\n+snmp community s3cret\n@@ -4 +4 @@\n+logging host 10.0.0.9\n"
        );
        assert_eq!(line_diff("", "x\n"), "@@ -1 +1 @@\n+x\n");
        assert_eq!(line_diff("x\ny\n", "y\n"), "@@ -1 +1 @@\n-x\n");
    }
}
