use civic_auth_poem::civic_auth_required;
use poem::handler;

const MAX_AGE: &str = "300";

#[civic_auth_required(max_age = MAX_AGE)]
#[handler]
async fn sensitive() -> &'static str {
    "Recent enough"
}

fn main() {}
