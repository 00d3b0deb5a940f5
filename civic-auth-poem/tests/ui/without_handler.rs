use civic_auth_poem::civic_auth_required;

#[civic_auth_required]
async fn hello() -> &'static str {
    "Hello, authenticated user!"
}

fn main() {}
