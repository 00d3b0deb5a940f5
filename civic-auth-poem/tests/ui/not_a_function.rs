use civic_auth_poem::civic_auth_required;

#[civic_auth_required]
struct Admin;

fn main() {}
