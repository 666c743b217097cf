//! Strings that hold `${{ }}` parts: `a-${{ x }}-b`, or a whole value `${{ x }}` that keeps its
//! type.
