#!/bin/sh
# Copy the models baked into the image into the models directory the service reads, once per model
# name: a model folder that is already there (a retrained MSD_musicnn, say) is never touched, so
# the host's saved_models/ stays the one place where models are added, replaced or removed.
#
#   seed-models [SOURCE [DEST]]   defaults: /app/saved_models (baked at build time) and /models
#
# Run by the `models-init` service of docker/compose.yaml before the API starts. Each model is
# copied under a hidden temporary name and renamed into place, so a running service never sees a
# half-copied model, and the copy gets the owner of DEST so the host user can manage it.
set -eu

src=${1:-/app/saved_models}
dest=${2:-/models}

if [ ! -d "$src" ]; then
    echo "seed-models: no built-in models at $src" >&2
    exit 1
fi
if [ ! -d "$dest" ]; then
    echo "seed-models: $dest is not a directory (mount the models directory there)" >&2
    exit 1
fi

owner=$(stat -c '%u:%g' "$dest")
added=0
for model in "$src"/*/; do
    [ -d "$model" ] || continue
    name=$(basename "$model")
    if [ -e "$dest/$name" ]; then
        echo "seed-models: $name is already in the models directory; left as it is"
        continue
    fi
    partial="$dest/.$name.partial"
    rm -rf "$partial"
    cp -R "$model" "$partial"
    chown -R "$owner" "$partial"
    chmod -R u+rwX,go+rX "$partial"
    mv "$partial" "$dest/$name"
    echo "seed-models: added built-in model $name"
    added=$((added + 1))
done
echo "seed-models: $added built-in model(s) added to $dest"
