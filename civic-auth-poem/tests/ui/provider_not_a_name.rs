use civic_auth_poem::civic_auth_required;
use poem::handler;

#[civic_auth_required(provider = "our partner")]
#[handler]
fn reports() -> &'static str {
    "reports"
}

fn main() {}
