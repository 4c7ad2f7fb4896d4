"""`dali-pipes bench`'s own pieces: `runner` (the contenders side by side: measure, report; needs the
`bench` extra's psutil), `recipes` (the named train recipes, each written once per contender) and
`ffcv` (FFCV as a contender). Importing this package imports none of them."""
