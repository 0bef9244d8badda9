//! Unit tests of the shell-context scanner: each place a placeholder can stand, read as bash reads it.

use super::*;

#[test]
fn each_place_is_read_as_bash_reads_it() {
    for (prefix, want) in [
        ("echo ", Ctx::Plain),
        ("echo \"a ", Ctx::Double),
        ("echo 'a ", Ctx::Single),
        ("echo $'a\\' ", Ctx::AnsiC),
        ("echo \"$(echo ", Ctx::Plain),
        ("echo \"$(echo 'x", Ctx::Single),
        ("echo \"$(echo \")\" ", Ctx::Plain),
        ("echo \"$(echo \")\") ", Ctx::Double),
        ("x=$(case a in a) echo ", Ctx::Plain),
        ("echo ${x:-\"}\"} ", Ctx::Plain),
        ("cat <<E\nE\necho ", Ctx::Plain),
        ("cat <<-'E'\n\tx\n\tE\n", Ctx::Plain),
        ("cat <<< ", Ctx::Plain),
        ("# it's\necho ", Ctx::Plain),
        ("echo a#", Ctx::Plain),
        ("X=1 ", Ctx::Plain),
        ("declare X=", Ctx::Plain),
        ("cat <<E\n", Ctx::Refused(HEREDOC)),
        ("cat <<'E'\nx\n", Ctx::Refused(HEREDOC)),
        ("cat <<", Ctx::Refused(HEREDOC_WORD)),
        ("echo `", Ctx::Refused(BACKTICK)),
        ("echo $((", Ctx::Refused(ARITH)),
        ("((", Ctx::Refused(ARITH)),
        ("echo $[", Ctx::Refused(ARITH)),
        ("let ", Ctx::Refused(ARITH)),
        ("[[ 1 -eq ", Ctx::Refused(DBRACKET)),
        ("[[ -v ", Ctx::Refused(DBRACKET)),
        ("[[ -f ", Ctx::Plain),
        ("[[ a == \"", Ctx::Double),
        ("echo ${x:-", Ctx::Refused(PARAM)),
        ("echo \"${x:-'", Ctx::Refused(PARAM)),
        ("echo # ", Ctx::Refused(COMMENT)),
        ("eval ", Ctx::Refused(EVAL)),
        ("echo \\", Ctx::Refused(ESCAPE)),
        ("a[", Ctx::Refused(VARNAME)),
        ("read -r ", Ctx::Refused(VARNAME)),
        ("declare -i n=", Ctx::Refused(ARITH_ATTR)),
    ] {
        assert_eq!(context(prefix), want, "{prefix:?}");
    }
}

#[test]
fn words_are_quoted_unless_plainly_literal() {
    assert_eq!(word("steps_2"), "steps_2");
    assert_eq!(word("1.5e-3"), "1.5e-3");
    assert_eq!(word("-n"), "'-n'");
    for q in ["", "a b", "a=b", "~", "b,c", "esac", "{", "it's", "$x"] {
        assert!(word(q).starts_with('\''), "{q:?}: {}", word(q));
    }
    assert_eq!(word("it's"), r"'it'\''s'");
}
